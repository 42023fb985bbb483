/**
 * One connection per user for each system under test, behind one small interface, so the same
 * workload drives Switchboard (WuKongIM protocol over TCP, our codec, plaintext sessions), Socket.IO
 * and the ws + Redis baseline.
 */
import { io as socketIo } from "socket.io-client";
import WebSocket from "ws";
import { PacketType, ReasonCode, encodePing, encodeRecvack, encodeSend, recvackFor } from "../../src/protocol/index.js";
import { sendPacket } from "../../test/helpers/wk/packets.js";
import { Wire } from "../../test/helpers/wk/wire.js";

export type SystemName = "switchboard" | "socketio" | "ws-redis";

export interface BenchConn {
  send(to: string, data: string): void;
  sendGroup(room: string, data: string): void;
  join(room: string): void;
  /** A heartbeat as the protocol's clients send it (Socket.IO and ws heartbeat on their own). */
  ping(): void;
  onMessage(cb: (data: string) => void): void;
  /** SENDACKs seen (Switchboard only: the store acknowledged the message). */
  acks(): number;
  close(): void;
}

export interface ConnectOptions {
  system: SystemName;
  uid: string;
  /** host:port (switchboard TCP) or ws://host:port (peers). */
  addr: string;
  localAddress: string;
}

const VERSION = 4;
const dec = new TextDecoder();

async function switchboardConn(o: ConnectOptions): Promise<BenchConn> {
  // Packets are not kept: a load run receives far too many.
  const wire = await Wire.open(o.addr, { localAddress: o.localAddress, version: VERSION, keepPackets: false });
  let handler: (data: string) => void = () => {};
  let acks = 0;
  let seq = 0;
  const pending: Uint8Array[] = [];
  let scheduled = false;
  // Cork: frames written in one tick leave in one write.
  const write = (frame: Uint8Array) => {
    pending.push(frame);
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      wire.write(pending.length === 1 ? pending[0] : Buffer.concat(pending));
      pending.length = 0;
    });
  };
  const sendFrame = (channelId: string, channelType: number, data: string) =>
    encodeSend(
      sendPacket({ redDot: false, clientSeq: ++seq, clientMsgNo: `${o.uid}-${seq}`, channelId, channelType, payload: wire.encrypt(data) }),
      VERSION,
    );
  wire.onPacket = (p) => {
    if (p.type === PacketType.RECV) {
      write(encodeRecvack(recvackFor(p), VERSION));
      handler(dec.decode(p.payload));
    } else if (p.type === PacketType.SENDACK && p.reasonCode === ReasonCode.Success) acks++;
  };
  // A plaintext session: the load measures the server, not AES in the clients. The deadline is
  // generous: thousands of clients connect at once on a loaded machine.
  const connack = await wire
    .handshake({ uid: o.uid, deviceId: o.uid, version: VERSION, plaintext: true, timeoutMs: 120_000 })
    .catch((err) => {
      wire.close();
      throw err;
    });
  if (connack.reasonCode !== ReasonCode.Success) {
    wire.close();
    throw new Error(`CONNACK ${connack.reasonCode}`);
  }
  return {
    send: (to, data) => write(sendFrame(to, 1, data)),
    sendGroup: (room, data) => write(sendFrame(room, 2, data)),
    join: () => {},
    ping: () => write(encodePing()),
    onMessage: (cb) => {
      handler = cb;
    },
    acks: () => acks,
    close: () => wire.close(),
  };
}

function socketIoConn(o: ConnectOptions): Promise<BenchConn> {
  return new Promise((resolve, reject) => {
    const s = socketIo(o.addr, {
      transports: ["websocket"],
      query: { uid: o.uid },
      reconnection: false,
      localAddress: o.localAddress,
    } as never);
    let handler: (data: string) => void = () => {};
    s.on("msg", (data: string) => handler(data));
    s.once("connect", () =>
      resolve({
        send: (to, data) => s.emit("msg", { to, data }),
        sendGroup: (room, data) => s.emit("group", { room, data }),
        join: (room) => s.emit("join", room),
        ping: () => {},
        onMessage: (cb) => {
          handler = cb;
        },
        acks: () => 0,
        close: () => s.close(),
      }),
    );
    s.once("connect_error", reject);
  });
}

function wsRedisConn(o: ConnectOptions): Promise<BenchConn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${o.addr}/?uid=${encodeURIComponent(o.uid)}`, { localAddress: o.localAddress });
    let handler: (data: string) => void = () => {};
    ws.on("message", (raw) => handler(String(raw)));
    ws.once("open", () =>
      resolve({
        send: (to, data) => ws.send(JSON.stringify({ to, data })),
        sendGroup: (room, data) => ws.send(JSON.stringify({ room, data })),
        join: (room) => ws.send(JSON.stringify({ join: room, data: "" })),
        ping: () => {},
        onMessage: (cb) => {
          handler = cb;
        },
        acks: () => 0,
        close: () => ws.close(),
      }),
    );
    ws.once("error", reject);
  });
}

export function connect(o: ConnectOptions): Promise<BenchConn> {
  if (o.system === "switchboard") return switchboardConn(o);
  if (o.system === "socketio") return socketIoConn(o);
  return wsRedisConn(o);
}

/** Open `count` connections, `parallel` at a time; a refused one is tried again (5 times, backing off) as a client would. */
export async function connectMany(count: number, parallel: number, make: (i: number) => Promise<BenchConn>): Promise<BenchConn[]> {
  const out: BenchConn[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) {
        const i = next++;
        for (let attempt = 0; ; attempt++) {
          try {
            out[i] = await make(i);
            break;
          } catch (err) {
            if (attempt >= 5) throw err;
            await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
          }
        }
      }
    }),
  );
  return out;
}
