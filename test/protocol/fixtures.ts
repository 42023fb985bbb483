/**
 * Byte fixtures written by hand from the layouts in the reference (wukongim-protocol.md §1.4),
 * each with the packet it must decode to. Headers and lengths are literal hex; `frame()` checks
 * the literal length against the body so a typo in a fixture cannot go unnoticed. Nothing here
 * uses the codec under test.
 */
import { type Packet, PacketType } from "../../src/protocol/index.js";

export interface Fixture {
  name: string;
  version: number;
  bytes: Buffer;
  packet: Packet;
}

export const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ""), "hex");
const ascii = (s: string): Buffer => Buffer.from(s, "utf8");
/** `str`: i16 BE byte length + UTF-8. */
export function str(s: string): Buffer {
  const b = Buffer.from(s, "utf8");
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const i64 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b;
};

/** header: literal "type/flags + varint length" hex; the varint must be a 1-byte length here unless `len` is given. */
export function frame(header: string, ...body: Buffer[]): Buffer {
  const h = hex(header);
  const b = Buffer.concat(body);
  if (h.length === 2 && h[1] !== b.length) throw new Error(`fixture length byte 0x${h[1].toString(16)} but body has ${b.length} bytes`);
  return Buffer.concat([h, b]);
}

const CLIENT_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // bytes 0..31
const SERVER_KEY = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="; // bytes 32..63
const MSG_KEY = "0123456789abcdef0123456789abcdef";
const noFlags = { dup: false, syncOnce: false, redDot: false, noPersist: false };
const redDot = { ...noFlags, redDot: true };

export const BIG_PAYLOAD = Buffer.alloc(200, 0x61);
export const HUGE_PAYLOAD = Buffer.alloc(20_000, 0x62);

export const FIXTURES: Fixture[] = [
  { name: "PING", version: 5, bytes: hex("70"), packet: { type: PacketType.PING } },
  { name: "PONG", version: 5, bytes: hex("80"), packet: { type: PacketType.PONG } },
  {
    name: "RECVACK v5 RedDot (reference example with a safe message_id)",
    version: 5,
    bytes: hex("62 0c 001b69b4ba630f34 00000008"),
    packet: { type: PacketType.RECVACK, ...redDot, messageId: Number(0x001b69b4ba630f34n), messageSeq: 8 },
  },
  {
    name: "RECVACK v6 u64 message_seq, all flags",
    version: 6,
    bytes: hex("6f 10 0000000000000005 0000000100000002"),
    packet: { type: PacketType.RECVACK, dup: true, syncOnce: true, redDot: true, noPersist: true, messageId: 5, messageSeq: 2 ** 32 + 2 },
  },
  {
    name: "CONNECT v5 (reference prefix 10 63 05 01 00 21)",
    version: 5,
    bytes: frame(
      "10 63",
      hex("05 01"),
      str("0123456789abcdef0123456789abcdefW"),
      str("u1"),
      str("t1"),
      i64(1_700_000_000_000n),
      str(CLIENT_KEY),
    ),
    packet: {
      type: PacketType.CONNECT,
      version: 5,
      deviceFlag: 1,
      deviceId: "0123456789abcdef0123456789abcdefW",
      uid: "u1",
      token: "t1",
      clientTimestamp: 1_700_000_000_000,
      clientKey: CLIENT_KEY,
    },
  },
  {
    name: "CONNACK v2: no server_version, no node_id",
    version: 2,
    bytes: frame("20 49", i64(1234n), hex("01"), str(SERVER_KEY), str("abcdefghABCDEFGH")),
    packet: {
      type: PacketType.CONNACK,
      hasServerVersion: false,
      timeDiff: 1234,
      reasonCode: 1,
      serverKey: SERVER_KEY,
      salt: "abcdefghABCDEFGH",
    },
  },
  {
    name: "CONNACK v5: server_version, negative time_diff, node_id",
    version: 5,
    bytes: frame("21 52", hex("05"), i64(-42n), hex("01"), str(SERVER_KEY), str("abcdefghABCDEFGH"), hex("00000000000003e9")),
    packet: {
      type: PacketType.CONNACK,
      hasServerVersion: true,
      serverVersion: 5,
      timeDiff: -42,
      reasonCode: 1,
      serverKey: SERVER_KEY,
      salt: "abcdefghABCDEFGH",
      nodeId: 1001,
    },
  },
  {
    name: "CONNACK v4 refusal (AuthFail), empty key and salt",
    version: 4,
    bytes: frame("21 16", hex("04"), i64(0n), hex("02"), str(""), str(""), hex("0000000000000007")),
    packet: {
      type: PacketType.CONNACK,
      hasServerVersion: true,
      serverVersion: 4,
      timeDiff: 0,
      reasonCode: 2,
      serverKey: "",
      salt: "",
      nodeId: 7,
    },
  },
  {
    name: "SEND v2 as SDK 1.0.4 sends it (RedDot, no expire)",
    version: 2,
    bytes: frame("32 36", hex("00"), u32(1), str("abc"), str("bob"), hex("01"), str(MSG_KEY), ascii("eyJ9")),
    packet: {
      type: PacketType.SEND,
      ...redDot,
      setting: 0,
      clientSeq: 1,
      clientMsgNo: "abc",
      channelId: "bob",
      channelType: 1,
      msgKey: MSG_KEY,
      payload: ascii("eyJ9"),
    },
  },
  {
    name: "SEND v5 receipt+topic, expire, DUP|RedDot|NoPersist",
    version: 5,
    bytes: frame("3b 1d", hex("88"), u32(0x01020304), str("m1"), str("g1"), hex("02"), u32(60), str("k"), str("news"), ascii("xy")),
    packet: {
      type: PacketType.SEND,
      dup: true,
      syncOnce: false,
      redDot: true,
      noPersist: true,
      setting: 0x88,
      clientSeq: 0x01020304,
      clientMsgNo: "m1",
      channelId: "g1",
      channelType: 2,
      expire: 60,
      msgKey: "k",
      topic: "news",
      payload: ascii("xy"),
    },
  },
  {
    name: "SEND v4 with stream_no, empty msg_key and payload",
    version: 4,
    bytes: frame("30 16", hex("02"), u32(7), str("m"), str("s1"), str("c"), hex("01"), u32(0), str(""), Buffer.alloc(0)),
    packet: {
      type: PacketType.SEND,
      ...noFlags,
      setting: 0x02,
      clientSeq: 7,
      clientMsgNo: "m",
      streamNo: "s1",
      channelId: "c",
      channelType: 1,
      expire: 0,
      msgKey: "",
      payload: new Uint8Array(0),
    },
  },
  {
    name: "SEND v5 with a 2-byte length varint",
    version: 5,
    bytes: Buffer.concat([hex("30 dc 01"), hex("00"), u32(1), str("m"), str("g1"), hex("02"), u32(0), str("k"), BIG_PAYLOAD]),
    packet: {
      type: PacketType.SEND,
      ...noFlags,
      setting: 0,
      clientSeq: 1,
      clientMsgNo: "m",
      channelId: "g1",
      channelType: 2,
      expire: 0,
      msgKey: "k",
      payload: BIG_PAYLOAD,
    },
  },
  {
    name: "SEND v5 with a 3-byte length varint",
    version: 5,
    bytes: Buffer.concat([hex("30 b4 9c 01"), hex("00"), u32(1), str("m"), str("g1"), hex("02"), u32(0), str("k"), HUGE_PAYLOAD]),
    packet: {
      type: PacketType.SEND,
      ...noFlags,
      setting: 0,
      clientSeq: 1,
      clientMsgNo: "m",
      channelId: "g1",
      channelType: 2,
      expire: 0,
      msgKey: "k",
      payload: HUGE_PAYLOAD,
    },
  },
  {
    name: "SENDACK v5",
    version: 5,
    bytes: frame("40 11", i64(257n), u32(1), u32(9), hex("01")),
    packet: { type: PacketType.SENDACK, messageId: 257, clientSeq: 1, messageSeq: 9, reasonCode: 1 },
  },
  {
    name: "SENDACK v5 with the trailing client_msg_no (WuKongIM v3 style)",
    version: 5,
    bytes: frame("40 16", i64(257n), u32(1), u32(9), hex("08"), str("abc")),
    packet: { type: PacketType.SENDACK, messageId: 257, clientSeq: 1, messageSeq: 9, reasonCode: 8, clientMsgNo: "abc" },
  },
  {
    name: "SENDACK v6 u64 message_seq",
    version: 6,
    bytes: frame("40 15", i64(3n), u32(4), hex("0000000000000005"), hex("01")),
    packet: { type: PacketType.SENDACK, messageId: 3, clientSeq: 4, messageSeq: 5, reasonCode: 1 },
  },
  {
    name: "RECV v2 RedDot (no expire)",
    version: 2,
    bytes: frame(
      "52 2c",
      hex("00"),
      str("k"),
      str("alice"),
      str("alice"),
      hex("01"),
      str("abc"),
      i64(257n),
      u32(3),
      u32(1_700_000_000),
      ascii("eyJ9"),
    ),
    packet: {
      type: PacketType.RECV,
      ...redDot,
      setting: 0,
      msgKey: "k",
      fromUid: "alice",
      channelId: "alice",
      channelType: 1,
      clientMsgNo: "abc",
      messageId: 257,
      messageSeq: 3,
      timestamp: 1_700_000_000,
      payload: ascii("eyJ9"),
    },
  },
  {
    name: "RECV v5 topic and expire, empty strings",
    version: 5,
    bytes: frame("50 23", hex("08"), str(""), str("a"), str("g"), hex("02"), u32(30), str(""), i64(1n), u32(1), u32(1), str("t")),
    packet: {
      type: PacketType.RECV,
      ...noFlags,
      setting: 0x08,
      msgKey: "",
      fromUid: "a",
      channelId: "g",
      channelType: 2,
      expire: 30,
      clientMsgNo: "",
      messageId: 1,
      messageSeq: 1,
      timestamp: 1,
      topic: "t",
      payload: new Uint8Array(0),
    },
  },
  {
    name: "RECV v3 with stream fields (Go order: flag, no, id)",
    version: 3,
    bytes: frame(
      "50 2f",
      hex("02"),
      str("k"),
      str("a"),
      str("b"),
      hex("01"),
      u32(0),
      str("c"),
      hex("02"),
      str("s"),
      i64(5n),
      i64(2n),
      u32(2),
      u32(2),
      ascii("p"),
    ),
    packet: {
      type: PacketType.RECV,
      ...noFlags,
      setting: 0x02,
      msgKey: "k",
      fromUid: "a",
      channelId: "b",
      channelType: 1,
      expire: 0,
      clientMsgNo: "c",
      streamFlag: 2,
      streamNo: "s",
      streamId: 5,
      messageId: 2,
      messageSeq: 2,
      timestamp: 2,
      payload: ascii("p"),
    },
  },
  {
    name: "DISCONNECT ConnectKick",
    version: 5,
    bytes: frame("90 18", hex("0c"), str("login in other device")),
    packet: { type: PacketType.DISCONNECT, reasonCode: 12, reason: "login in other device" },
  },
  {
    name: "SUB",
    version: 5,
    bytes: frame("a0 11", hex("00"), str("s1"), str("live"), hex("09 00"), str("{}")),
    packet: { type: PacketType.SUB, setting: 0, subNo: "s1", channelId: "live", channelType: 9, action: 0, param: "{}" },
  },
  {
    name: "SUBACK",
    version: 5,
    bytes: frame("b0 0d", str("s1"), str("live"), hex("09 01 01")),
    packet: { type: PacketType.SUBACK, subNo: "s1", channelId: "live", channelType: 9, action: 1, reasonCode: 1 },
  },
  {
    name: "EVENT with JSON data",
    version: 5,
    bytes: frame("c0 21", str("e1"), str("stream.delta"), i64(1_700_000_000_000n), ascii('{"a":1}')),
    packet: { type: PacketType.EVENT, id: "e1", eventType: "stream.delta", timestamp: 1_700_000_000_000, data: ascii('{"a":1}') },
  },
];

/** Payload fields come back as Buffer views; compare them as hex text (fast for big payloads). */
export function plain(p: unknown): unknown {
  if (p instanceof Uint8Array) return `bytes:${Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString("hex")}`;
  if (Array.isArray(p)) return p.map(plain);
  if (p && typeof p === "object") return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, plain(v)]));
  return p;
}
