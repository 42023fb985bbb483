/**
 * Bad bytes on a gateway connection: each gets a DISCONNECT with a reason code (or a refused
 * CONNACK) and a close, and a pair of good users on the same node keeps chatting throughout.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import {
  FrameDecoder,
  type Packet,
  PacketType,
  ReasonCode,
  createClientKeys,
  encodeConnect,
  encodePing,
} from "../../src/protocol/index.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { TcpClient } from "../helpers/tcp-client.js";

/** Write bytes on a fresh connection and collect what comes back until the server closes it. */
function exchange(
  addr: string,
  chunks: Uint8Array[],
  opts: { end?: boolean; timeoutMs?: number } = {},
): Promise<{ packets: Packet[]; closed: boolean }> {
  const [host, port] = addr.split(":");
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port) });
    const decoder = new FrameDecoder({ version: 4 });
    const packets: Packet[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ packets, closed: false });
    }, opts.timeoutMs ?? 8_000);
    socket.on("data", (d) => {
      try {
        packets.push(...decoder.push(d));
      } catch {
        // what the server sends is checked by the test
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ packets, closed: true });
    });
    socket.on("connect", () => {
      for (const c of chunks) socket.write(c);
      if (opts.end) socket.end();
    });
  });
}

const connect = (version: number, uid = "h-bad") =>
  encodeConnect(
    {
      type: PacketType.CONNECT,
      version,
      deviceFlag: 0,
      deviceId: "d",
      uid,
      token: "",
      clientTimestamp: Date.now(),
      clientKey: createClientKeys().publicKeyBase64,
    },
    Math.max(2, Math.min(version, 5)),
  );

const reasonOf = (packets: Packet[]) => {
  const p = packets.find((x) => x.type === PacketType.DISCONNECT || x.type === PacketType.CONNACK);
  return p && "reasonCode" in p ? p.reasonCode : undefined;
};

describe("hostile frames on a gateway connection", () => {
  let sb: TestServer;
  let addr: string;
  let alice: TcpClient;
  let bob: TcpClient;
  let sent = 0;
  before(async () => {
    sb = await startTestServer({ tokenAuth: false, nodes: 1 });
    addr = sb.nodes[0].info().external.tcpAddr;
    alice = await TcpClient.connect(addr, { uid: "h-alice" });
    bob = await TcpClient.connect(addr, { uid: "h-bob" });
  });
  after(async () => {
    alice?.close();
    bob?.close();
    await sb?.stop();
  });

  /** The good pair still chats after each hostile connection. */
  async function stillChatting(): Promise<void> {
    const ack = await alice.send("h-bob", 1, `still here ${++sent}`);
    assert.equal(ack.reasonCode, ReasonCode.Success);
    await bob.waitFor(`message ${sent}`, () => (bob.recvs.some((r) => r.plain.toString() === `still here ${sent}`) ? true : undefined));
  }

  const cases: [string, () => Promise<{ packets: Packet[]; closed: boolean }>, number | undefined][] = [
    ["garbage bytes", () => exchange(addr, [Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]), undefined],
    ["a PING before CONNECT", () => exchange(addr, [encodePing()]), ReasonCode.AuthFail],
    ["an unknown packet type", () => exchange(addr, [Uint8Array.of(0xf0, 0x00)]), undefined],
    ["a length over the frame limit", () => exchange(addr, [Uint8Array.of(0x10, 0xff, 0xff, 0xff, 0x7f)]), undefined],
    ["protocol version 1", () => exchange(addr, [connect(1)]), undefined],
    ["a truncated CONNECT, then the client hangs up", () => exchange(addr, [connect(4).subarray(0, 9)], { end: true }), undefined],
  ];
  for (const [name, run, reason] of cases) {
    test(`${name}: closed with a reason, others unaffected`, async () => {
      const { packets, closed } = await run();
      assert.equal(closed, true, "the server closed the connection");
      if (reason !== undefined) assert.equal(reasonOf(packets), reason, `reason code for ${name}`);
      else if (packets.length > 0)
        assert.ok((reasonOf(packets) ?? 1) !== ReasonCode.Success, `no success answer: ${JSON.stringify(packets)}`);
      await stillChatting();
    });
  }

  test("a SEND whose msg_key does not verify is refused and not delivered", async () => {
    const before = bob.recvs.length;
    const mallory = await TcpClient.connect(addr, { uid: "h-mallory" });
    // Break the msg_key after the client computed it: flip one hex digit of the 32 in the frame.
    const send = mallory.send.bind(mallory);
    const socketWrite = mallory.socket.write.bind(mallory.socket);
    mallory.socket.write = ((data: Uint8Array) => {
      const buf = Buffer.from(data);
      const key = buf[0] >> 4 === PacketType.SEND ? /[0-9a-f]{32}/.exec(buf.toString("latin1")) : null;
      if (key) buf[key.index] = buf[key.index] === 0x61 ? 0x62 : 0x61;
      return socketWrite(buf);
    }) as typeof mallory.socket.write;
    const ack = await send("h-bob", 1, "forged");
    assert.equal(ack.reasonCode, ReasonCode.MsgKeyError);
    mallory.close();
    await stillChatting();
    assert.ok(!bob.recvs.slice(before).some((r) => r.plain.toString() === "forged"), "the forged message never reached bob");
  });
});
