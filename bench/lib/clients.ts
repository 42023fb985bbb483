/**
 * One connection per user for each system under test, behind one small interface, so the same
 * workload drives Switchboard (WuKongIM protocol over TCP, our codec, plaintext sessions), Socket.IO
 * and the ws + Redis baseline.
 */
import net from "node:net";
import { io as socketIo } from "socket.io-client";
import WebSocket from "ws";
import { FrameDecoder, PacketType, encodePacket, encodeRecvack, recvackFor } from "../../src/protocol/index.js";

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
const enc = new TextEncoder();
const dec = new TextDecoder();

function switchboardConn(o: ConnectOptions): Promise<BenchConn> {
  const [host, port] = o.addr.split(":");
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port: Number(port), localAddress: o.localAddress });
    socket.setNoDelay(true);
    const decoder = new FrameDecoder({ version: VERSION });
    let handler: (data: string) => void = () => {};
    let acks = 0;
    let seq = 0;
    let connected = false;
    const pending: Uint8Array[] = [];
    let scheduled = false;
    // Cork: frames written in one tick leave in one write.
    const write = (frame: Uint8Array) => {
      pending.push(frame);
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        socket.write(pending.length === 1 ? pending[0] : Buffer.concat(pending));
        pending.length = 0;
      });
    };
    const conn: BenchConn = {
      send: (to, data) => write(sendFrame(to, 1, data)),
      sendGroup: (room, data) => write(sendFrame(room, 2, data)),
      join: () => {},
      ping: () => write(encodePacket({ type: PacketType.PING }, VERSION)),
      onMessage: (cb) => {
        handler = cb;
      },
      acks: () => acks,
      close: () => socket.destroy(),
    };
    const sendFrame = (channelId: string, channelType: number, data: string) =>
      encodePacket(
        {
          type: PacketType.SEND,
          dup: false,
          syncOnce: false,
          redDot: false,
          noPersist: false,
          setting: 0,
          clientSeq: ++seq,
          clientMsgNo: `${o.uid}-${seq}`,
          channelId,
          channelType,
          expire: 0,
          msgKey: "",
          payload: enc.encode(data),
        },
        VERSION,
      );
    socket.on("data", (chunk) => {
      for (const p of decoder.push(chunk)) {
        if (p.type === PacketType.CONNACK) {
          if (p.reasonCode !== 1) return reject(new Error(`CONNACK ${p.reasonCode}`));
          connected = true;
          resolve(conn);
        } else if (p.type === PacketType.RECV) {
          write(encodeRecvack(recvackFor(p), VERSION));
          handler(dec.decode(p.payload));
        } else if (p.type === PacketType.SENDACK) {
          if (p.reasonCode === 1) acks++;
        }
      }
    });
    socket.on("error", (err) => {
      if (!connected) reject(err);
    });
    socket.on("close", () => {
      if (!connected) reject(new Error("closed before CONNACK"));
    });
    socket.on("connect", () =>
      socket.write(
        encodePacket(
          {
            type: PacketType.CONNECT,
            version: VERSION,
            deviceFlag: 0,
            deviceId: o.uid,
            uid: o.uid,
            token: "",
            clientTimestamp: Date.now(),
            clientKey: "",
          },
          VERSION,
        ),
      ),
    );
  });
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
