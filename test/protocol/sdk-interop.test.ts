/**
 * Interop with the real WuKongIM JS SDK from npm (wukongimjssdk 1.0.4, protocol v2). Its
 * extensionless ESM is bundled with esbuild into a temp file and imported. The SDK is driven
 * through its own ConnectManager/ChatManager code paths over a fake WebSocket (no network): our
 * codec and crypto play the server.
 */
import assert from "node:assert/strict";
import { unlinkSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import {
  type ConnectPacket,
  type CryptoSession,
  FrameDecoder,
  type Packet,
  PacketType,
  ReasonCode,
  type RecvPacket,
  type SendPacket,
  decodePacket,
  decryptPayload,
  deriveSession,
  encodeConnack,
  encodeDisconnect,
  encodePong,
  encodeRecv,
  encodeSendack,
  encodeSuback,
  encryptPayload,
  negotiateVersion,
  recvMsgKey,
  sendMsgKey,
} from "../../src/protocol/index.js";
import { bundleSdk } from "../helpers/wk-sdk.js";

/** The slice of the SDK this test touches (it ships no types usable from here). */
interface SdkPacket {
  [field: string]: unknown;
}
interface SdkBundle {
  WKSDK: { shared(): SdkInstance };
  Proto: new () => { encode(p: object): Uint8Array; decode(data: Uint8Array): SdkPacket };
  MessageText: new (text: string) => object;
  Channel: new (id: string, type: number) => object;
  ConnectStatus: Record<string, number>;
  SecurityManager: { shared(): { aesKey: string; aesIV: string } };
  RecvackPacket: new () => SdkPacket;
  SubPacket: new () => SdkPacket;
  Md5: { init(s: string): string };
}
interface SdkMessage {
  messageID: string;
  messageSeq: number;
  fromUID: string;
  clientMsgNo: string;
  content: { text?: string };
  header: { reddot: boolean };
}
interface SdkInstance {
  config: { uid: string; token: string; addr: string; protoVersion: number };
  connect(): void;
  disconnect(): void;
  connectManager: { status: number; addConnectStatusListener(l: (status: number, reason: number) => void): void };
  chatManager: { send(content: object, channel: object): Promise<unknown>; addMessageListener(l: (m: SdkMessage) => void): void };
  receiptManager: { timer: ReturnType<typeof setInterval> };
}

/** Stands in for the browser WebSocket the SDK constructs; records what the SDK sends. */
class FakeWebSocket {
  static last: FakeWebSocket | undefined;
  binaryType = "";
  sent: Uint8Array[] = [];
  onopen: (() => void) | undefined;
  onmessage: ((e: { data: ArrayBuffer }) => void) | undefined;
  onclose: ((e: unknown) => void) | undefined;
  onerror: ((e: unknown) => void) | undefined;
  constructor(readonly url: string) {
    FakeWebSocket.last = this;
  }
  send(data: Uint8Array): void {
    this.sent.push(Uint8Array.from(data));
  }
  close(): void {}
  /** A server → client binary message, as an ArrayBuffer like a browser delivers it. */
  deliver(frame: Uint8Array): void {
    this.onmessage?.({ data: frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer });
  }
}

let bundlePath = "";
let sdk: SdkBundle;
let wk: SdkInstance;
let ws: FakeWebSocket;
const quietLog = console.log;
const globals = globalThis as { WebSocket?: unknown };
const savedWebSocket = globals.WebSocket;

/** Everything the SDK has sent so far, decoded by our server-side stream decoder. */
const server = { decoder: new FrameDecoder(), seen: 0 };
function fromClient(): Packet[] {
  const out: Packet[] = [];
  for (; server.seen < ws.sent.length; server.seen++) out.push(...server.decoder.push(ws.sent[server.seen]));
  return out;
}
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("interop with wukongimjssdk 1.0.4 (protocol v2)", () => {
  let connect: ConnectPacket;
  let session: CryptoSession;
  let version: number;
  const received: SdkMessage[] = [];
  const statuses: [number, number][] = [];

  before(async () => {
    bundlePath = await bundleSdk();
    sdk = (await import(pathToFileURL(bundlePath).href)) as SdkBundle;
    globals.WebSocket = FakeWebSocket;
    console.log = () => {}; // the SDK logs every step
    wk = sdk.WKSDK.shared();
    wk.config.uid = "alice";
    wk.config.token = "token-1";
    wk.config.addr = "ws://switchboard.invalid";
    wk.connectManager.addConnectStatusListener((status, reason) => statuses.push([status, reason]));
    wk.chatManager.addMessageListener((m) => received.push(m));
  });

  after(() => {
    wk?.disconnect();
    if (wk) clearInterval(wk.receiptManager.timer);
    console.log = quietLog;
    globals.WebSocket = savedWebSocket;
    if (bundlePath) unlinkSync(bundlePath);
  });

  test("the SDK's CONNECT decodes with our codec", () => {
    wk.connect();
    ws = FakeWebSocket.last!;
    assert.equal(ws.url, "ws://switchboard.invalid");
    ws.onopen!();
    const packets = fromClient();
    assert.equal(packets.length, 1);
    assert.equal(packets[0].type, PacketType.CONNECT);
    connect = packets[0] as ConnectPacket;
    assert.equal(connect.version, 2);
    assert.equal(connect.deviceFlag, 1);
    assert.equal(connect.uid, "alice");
    assert.equal(connect.token, "token-1");
    assert.match(connect.deviceId, /^[0-9a-f]{32}W$/);
    assert.ok(Math.abs(connect.clientTimestamp - Date.now()) < 60_000);
    assert.equal(Buffer.from(connect.clientKey, "base64").length, 32);
    assert.deepEqual(decodePacket(ws.sent[0], 5), connect, "the one-frame decoder agrees");
    version = negotiateVersion(connect.version);
    assert.equal(server.decoder.currentVersion, 2, "the stream decoder followed the CONNECT");
  });

  test("our CONNACK (v2, no server_version) decodes with the SDK's decoder, and the SDK derives our AES key and IV", () => {
    session = deriveSession(connect.clientKey);
    const connack = encodeConnack(
      {
        type: PacketType.CONNACK,
        hasServerVersion: connect.version > 3,
        serverVersion: version,
        timeDiff: Date.now() - connect.clientTimestamp,
        reasonCode: ReasonCode.Success,
        serverKey: session.serverKeyBase64,
        salt: session.salt,
        nodeId: 7,
      },
      version,
    );
    assert.equal(connack[0], 0x20, "no HasServerVersion bit for a v2 client");
    const seen = new sdk.Proto().decode(connack);
    assert.equal(seen.packetType, PacketType.CONNACK);
    assert.equal(seen.reasonCode, 1);
    assert.equal(seen.serverKey, session.serverKeyBase64);
    assert.equal(seen.salt, session.salt);
    assert.ok(Number(String(seen.timeDiff)) >= 0);

    ws.deliver(connack);
    assert.equal(wk.connectManager.status, sdk.ConnectStatus.Connected);
    assert.deepEqual(statuses.at(-1), [sdk.ConnectStatus.Connected, 1]);
    const security = sdk.SecurityManager.shared();
    assert.equal(security.aesKey, session.aesKey.toString("latin1"));
    assert.equal(security.aesIV, session.salt);
  });

  const outgoing = "héllo 世界 🌍 — ✓";
  let sendFrame: Uint8Array;

  test("an SDK-encrypted SEND passes our msg_key check and decrypts to the original text", async () => {
    await wk.chatManager.send(new sdk.MessageText(outgoing), new sdk.Channel("bob", 1));
    sendFrame = ws.sent.at(-1)!;
    const [p] = fromClient() as SendPacket[];
    assert.equal(p.type, PacketType.SEND);
    assert.equal(p.redDot, true, "the SDK marks its messages RedDot");
    assert.equal(p.clientSeq, 1);
    assert.equal(p.channelId, "bob");
    assert.equal(p.channelType, 1);
    assert.equal(p.expire, undefined, "no expire field in v2");
    assert.equal(sendMsgKey(session, p), p.msgKey);
    const content = JSON.parse(decryptPayload(session, p.payload).toString("utf8"));
    assert.deepEqual(content, { content: outgoing, type: 1 });

    const ack = new sdk.Proto().decode(
      encodeSendack(
        { type: PacketType.SENDACK, messageId: 1001, clientSeq: p.clientSeq, messageSeq: 1, reasonCode: 1, clientMsgNo: p.clientMsgNo },
        version,
      ),
    );
    assert.deepEqual(
      [String(ack.messageID), ack.clientSeq, ack.messageSeq, ack.reasonCode],
      ["1001", 1, 1, 1],
      "SENDACK, trailing client_msg_no ignored",
    );
  });

  test("an SDK SEND whose payload was tampered with fails our msg_key check", () => {
    const p = decodePacket(sendFrame, version) as SendPacket;
    const payload = Buffer.from(p.payload);
    payload[0] = payload[0] === 0x41 ? 0x42 : 0x41;
    assert.notEqual(sendMsgKey(session, { ...p, payload }), p.msgKey);
    assert.notEqual(sendMsgKey(session, { ...p, channelId: "carol" }), p.msgKey);
  });

  function recvFor(messageId: number, text: string): RecvPacket {
    const recv: RecvPacket = {
      type: PacketType.RECV,
      dup: false,
      syncOnce: false,
      redDot: true,
      noPersist: false,
      setting: 0,
      msgKey: "",
      fromUid: "bob",
      channelId: "bob",
      channelType: 1,
      clientMsgNo: `cmn-${messageId}`,
      messageId,
      messageSeq: messageId - 2000,
      timestamp: Math.floor(Date.now() / 1000),
      payload: encryptPayload(session, Buffer.from(JSON.stringify({ type: 1, content: text }))),
    };
    recv.msgKey = recvMsgKey(session, recv);
    return recv;
  }

  test("our encrypted RECV passes the SDK's msg_key check, decrypts, and is RECVACKed", async () => {
    const recv = recvFor(2001, "回复 ✓ 🌍");
    ws.deliver(encodeRecv(recv, version));
    await tick();
    const m = received.at(-1)!;
    assert.equal(m.content.text, "回复 ✓ 🌍");
    assert.equal(m.messageID, "2001");
    assert.equal(m.messageSeq, 1);
    assert.equal(m.fromUID, "bob");
    assert.equal(m.clientMsgNo, "cmn-2001");
    assert.equal(m.header.reddot, true);
    const [ack] = fromClient();
    assert.deepEqual(ack, {
      type: PacketType.RECVACK,
      dup: false,
      syncOnce: false,
      redDot: true,
      noPersist: false,
      messageId: 2001,
      messageSeq: 1,
    });
  });

  test("a RECV with a tampered msg_key is dropped by the SDK (no message, no RECVACK)", async () => {
    const before = received.length;
    const recv = recvFor(2002, "forged");
    recv.msgKey = recv.msgKey.replace(/^./, (c) => (c === "a" ? "b" : "a"));
    ws.deliver(encodeRecv(recv, version));
    await tick();
    assert.equal(received.length, before);
    assert.deepEqual(fromClient(), []);
    // The genuine one still goes through afterwards.
    ws.deliver(encodeRecv(recvFor(2003, "genuine"), version));
    await tick();
    assert.equal(received.at(-1)?.content.text, "genuine");
    assert.equal(fromClient()[0]?.type, PacketType.RECVACK);
  });

  test("our SUBACK, DISCONNECT and PONG decode with the SDK's decoder; its SUB and RECVACK encoders decode with ours", () => {
    const proto = new sdk.Proto();
    const suback = proto.decode(
      encodeSuback({ type: PacketType.SUBACK, subNo: "s1", channelId: "live", channelType: 9, action: 1, reasonCode: 1 }, version),
    );
    assert.deepEqual([suback.clientMsgNo, suback.channelID, suback.channelType, suback.action, suback.reasonCode], ["s1", "live", 9, 1, 1]);
    const kick = proto.decode(encodeDisconnect({ type: PacketType.DISCONNECT, reasonCode: 12, reason: "login in other device" }, version));
    assert.deepEqual([kick.packetType, kick.reasonCode, kick.reason], [PacketType.DISCONNECT, 12, "login in other device"]);
    assert.equal(proto.decode(encodePong()).packetType, PacketType.PONG);

    const sub = new sdk.SubPacket();
    Object.assign(sub, { setting: 0, clientMsgNo: "s2", channelID: "live", channelType: 9, action: 0, param: '{"x":1}' });
    assert.deepEqual(decodePacket(proto.encode(sub), version), {
      type: PacketType.SUB,
      setting: 0,
      subNo: "s2",
      channelId: "live",
      channelType: 9,
      action: 0,
      param: '{"x":1}',
    });
    const ack = new sdk.RecvackPacket();
    Object.assign(ack, { messageID: "9007199254740991", messageSeq: 4_000_000_000, noPersist: true });
    assert.deepEqual(decodePacket(proto.encode(ack), version), {
      type: PacketType.RECVACK,
      dup: false,
      syncOnce: false,
      redDot: false,
      noPersist: true,
      messageId: Number.MAX_SAFE_INTEGER,
      messageSeq: 4_000_000_000,
    });
  });
});
