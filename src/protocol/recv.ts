import { strSize } from "./bytes.js";
import { PacketType, Setting } from "./constants.js";
import { type BodySource, type HeaderFlags, flagBits, flagsFromBits, frameWriter, toReader } from "./header.js";
import { checkVersion, hasStreamFields } from "./version.js";

/** RECV (server → client): one delivered message. Optional fields exist on the wire only where noted. */
export interface RecvPacket extends HeaderFlags {
  type: PacketType.RECV;
  setting: number;
  /** hex MD5 proof over the fields and the encrypted payload (see crypto.ts); "" when unencrypted. */
  msgKey: string;
  fromUid: string;
  /** For person channels: the peer's uid as this receiver sees it. */
  channelId: string;
  channelType: number;
  /** Seconds to live; on the wire from version 3. */
  expire?: number;
  clientMsgNo: string;
  /**
   * Stream fields: versions 2..4 with Setting.Stream only, in the Go server's order. SDK 1.0.4
   * reads another order, so never set Setting.Stream toward JS clients.
   */
  streamFlag?: number;
  streamNo?: string;
  streamId?: number;
  messageId: number;
  /** u32 on the wire; u64 from version 6. */
  messageSeq: number;
  /** Unix seconds (i32). */
  timestamp: number;
  /** With Setting.Topic only. */
  topic?: string;
  payload: Uint8Array;
}

export function encodeRecv(p: RecvPacket, version: number): Buffer {
  checkVersion(version);
  const stream = hasStreamFields(version, p.setting);
  const topic = (p.setting & Setting.Topic) !== 0;
  const size =
    1 +
    strSize(p.msgKey) +
    strSize(p.fromUid) +
    strSize(p.channelId) +
    1 +
    (version >= 3 ? 4 : 0) +
    strSize(p.clientMsgNo) +
    (stream ? 1 + strSize(p.streamNo ?? "") + 8 : 0) +
    8 +
    (version >= 6 ? 8 : 4) +
    4 +
    (topic ? strSize(p.topic ?? "") : 0) +
    p.payload.byteLength;
  const w = frameWriter(PacketType.RECV, flagBits(p), size);
  w.u8(p.setting);
  w.str(p.msgKey);
  w.str(p.fromUid);
  w.str(p.channelId);
  w.u8(p.channelType);
  if (version >= 3) w.u32(p.expire ?? 0);
  w.str(p.clientMsgNo);
  if (stream) {
    w.u8(p.streamFlag ?? 0);
    w.str(p.streamNo ?? "");
    w.u64(p.streamId ?? 0);
  }
  w.i64(p.messageId);
  if (version >= 6) w.u64(p.messageSeq);
  else w.u32(p.messageSeq);
  w.i32(p.timestamp);
  if (topic) w.str(p.topic ?? "");
  w.bytes(p.payload);
  return w.finish();
}

export function decodeRecvBody(body: BodySource, flags: number, version: number): RecvPacket {
  checkVersion(version);
  const r = toReader(body);
  const setting = r.u8();
  const msgKey = r.str();
  const fromUid = r.str();
  const channelId = r.str();
  const channelType = r.u8();
  const expire = version >= 3 ? r.u32() : undefined;
  const clientMsgNo = r.str();
  const p: RecvPacket = {
    type: PacketType.RECV,
    ...flagsFromBits(flags),
    setting,
    msgKey,
    fromUid,
    channelId,
    channelType,
    clientMsgNo,
    messageId: 0,
    messageSeq: 0,
    timestamp: 0,
    payload: EMPTY,
  };
  if (expire !== undefined) p.expire = expire;
  if (hasStreamFields(version, setting)) {
    p.streamFlag = r.u8();
    p.streamNo = r.str();
    p.streamId = r.u64();
  }
  p.messageId = r.i64();
  p.messageSeq = version >= 6 ? r.u64() : r.u32();
  p.timestamp = r.i32();
  if ((setting & Setting.Topic) !== 0) p.topic = r.str();
  p.payload = r.rest();
  return p;
}

const EMPTY = new Uint8Array(0);
