/**
 * Packets of every kind with edge-case values, and what each must decode to at a given version
 * (fields that do not exist on the wire at that version are absent after the round trip).
 */
import { type Packet, PacketType, Setting } from "../../src/protocol/index.js";

export const VERSIONS = [2, 3, 4, 5, 6];

const FLAG_SETS = [
  { dup: false, syncOnce: false, redDot: false, noPersist: false },
  { dup: true, syncOnce: false, redDot: false, noPersist: false },
  { dup: false, syncOnce: true, redDot: false, noPersist: false },
  { dup: false, syncOnce: false, redDot: true, noPersist: false },
  { dup: false, syncOnce: false, redDot: false, noPersist: true },
  { dup: true, syncOnce: true, redDot: true, noPersist: true },
];
const SETTINGS = [
  0,
  Setting.Receipt,
  Setting.Topic,
  Setting.Stream,
  Setting.Receipt | Setting.Topic | Setting.Stream | Setting.NoEncrypt | Setting.Signal,
];
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "utf8"));

export function samplePackets(): Packet[] {
  const out: Packet[] = [
    {
      type: PacketType.CONNECT,
      version: 5,
      deviceFlag: 1,
      deviceId: "d".repeat(32) + "W",
      uid: "用户-1",
      token: "",
      clientTimestamp: 1_700_000_000_123,
      clientKey: "k".repeat(44),
    },
    {
      type: PacketType.CONNECT,
      version: 0,
      deviceFlag: 99,
      deviceId: "",
      uid: "",
      token: "x".repeat(32_767),
      clientTimestamp: -1,
      clientKey: "",
    },
    { type: PacketType.CONNACK, hasServerVersion: false, timeDiff: -5, reasonCode: 1, serverKey: "sk", salt: "s".repeat(16) },
    {
      type: PacketType.CONNACK,
      hasServerVersion: true,
      serverVersion: 5,
      timeDiff: 2 ** 53 - 1,
      reasonCode: 1,
      serverKey: "",
      salt: "",
      nodeId: 1001,
    },
    { type: PacketType.CONNACK, hasServerVersion: true, serverVersion: 3, timeDiff: 0, reasonCode: 2, serverKey: "", salt: "", nodeId: 9 },
    { type: PacketType.SENDACK, messageId: 2 ** 53 - 1, clientSeq: 0xffff_ffff, messageSeq: 0xffff_ffff, reasonCode: 1 },
    { type: PacketType.SENDACK, messageId: 0, clientSeq: 0, messageSeq: 0, reasonCode: 8, clientMsgNo: "重试-1" },
    { type: PacketType.SENDACK, messageId: 1, clientSeq: 1, messageSeq: 1, reasonCode: 1, clientMsgNo: "" },
    { type: PacketType.PING },
    { type: PacketType.PONG },
    { type: PacketType.DISCONNECT, reasonCode: 12, reason: "login in other device — 其他设备登录" },
    { type: PacketType.DISCONNECT, reasonCode: 0, reason: "" },
    { type: PacketType.SUB, setting: 0x80, subNo: "s", channelId: "c", channelType: 9, action: 1, param: '{"a":"ü"}' },
    { type: PacketType.SUBACK, subNo: "", channelId: "c", channelType: 2, action: 0, reasonCode: 23 },
    { type: PacketType.EVENT, id: "e", eventType: "t", timestamp: -3, data: bytes('{"k":"v"}') },
    { type: PacketType.EVENT, id: "", eventType: "", timestamp: 0, data: new Uint8Array(0) },
  ];
  for (const flags of FLAG_SETS) {
    out.push({ type: PacketType.RECVACK, ...flags, messageId: 123_456_789, messageSeq: 42 });
    for (const setting of SETTINGS) {
      out.push({
        type: PacketType.SEND,
        ...flags,
        setting,
        clientSeq: 17,
        clientMsgNo: "cmn-✓",
        streamNo: "stream-1",
        channelId: "group-1",
        channelType: 2,
        expire: 3600,
        msgKey: "0123456789abcdef0123456789abcdef",
        topic: "topic-1",
        payload: bytes("payload ✓ 🌍"),
      });
      out.push({
        type: PacketType.RECV,
        ...flags,
        setting,
        msgKey: "",
        fromUid: "alice",
        channelId: "bob",
        channelType: 1,
        expire: 0,
        clientMsgNo: "c",
        streamFlag: 1,
        streamNo: "sn",
        streamId: 2 ** 40,
        messageId: 2 ** 53 - 1,
        messageSeq: 7,
        timestamp: -(2 ** 31),
        topic: "",
        payload: new Uint8Array([0, 255, 1, 254]),
      });
    }
  }
  return out;
}

/** The packet as it must come back after encode + decode at `version`. */
export function expectedAfterRoundTrip(p: Packet, version: number): Packet {
  const stream = (setting: number) => version >= 2 && version < 5 && (setting & Setting.Stream) !== 0;
  const topic = (setting: number) => (setting & Setting.Topic) !== 0;
  switch (p.type) {
    case PacketType.CONNACK: {
      const { serverVersion, nodeId, ...rest } = p;
      const sv = serverVersion ?? version;
      const layout = p.hasServerVersion ? sv : version;
      return {
        ...rest,
        ...(p.hasServerVersion ? { serverVersion: sv } : {}),
        ...(layout >= 4 ? { nodeId: nodeId ?? 0 } : {}),
      };
    }
    case PacketType.SEND: {
      const { streamNo, expire, topic: t, ...rest } = p;
      return {
        ...rest,
        ...(stream(p.setting) ? { streamNo: streamNo ?? "" } : {}),
        ...(version >= 3 ? { expire: expire ?? 0 } : {}),
        ...(topic(p.setting) ? { topic: t ?? "" } : {}),
      };
    }
    case PacketType.RECV: {
      const { streamFlag, streamNo, streamId, expire, topic: t, ...rest } = p;
      return {
        ...rest,
        ...(version >= 3 ? { expire: expire ?? 0 } : {}),
        ...(stream(p.setting) ? { streamFlag: streamFlag ?? 0, streamNo: streamNo ?? "", streamId: streamId ?? 0 } : {}),
        ...(topic(p.setting) ? { topic: t ?? "" } : {}),
      };
    }
    case PacketType.SENDACK: {
      const { clientMsgNo, ...rest } = p;
      return clientMsgNo ? { ...rest, clientMsgNo } : rest;
    }
    default:
      return p;
  }
}
