import { strSize } from "./bytes.js";
import { PacketType, Setting } from "./constants.js";
import { type BodySource, type HeaderFlags, flagBits, flagsFromBits, frameWriter, toReader } from "./header.js";
import { checkVersion, hasStreamFields } from "./version.js";

/** SEND (client → server): one message. Optional fields exist on the wire only where noted. */
export interface SendPacket extends HeaderFlags {
  type: PacketType.SEND;
  /** Setting bits (receipt, signal, noEncrypt, topic, stream). */
  setting: number;
  /** Client's sequence number; the SENDACK echoes it. */
  clientSeq: number;
  /** Client-chosen id, the de-dup key. */
  clientMsgNo: string;
  /** Versions 2..4 with Setting.Stream only. */
  streamNo?: string;
  channelId: string;
  channelType: number;
  /** Seconds to live; on the wire from version 3. */
  expire?: number;
  /** hex MD5 proof over the fields and the encrypted payload (see crypto.ts). */
  msgKey: string;
  /** With Setting.Topic only. */
  topic?: string;
  /** The wire payload (base64 text of the AES ciphertext unless unencrypted). */
  payload: Uint8Array;
}

export function encodeSend(p: SendPacket, version: number): Buffer {
  checkVersion(version);
  const stream = hasStreamFields(version, p.setting);
  const topic = (p.setting & Setting.Topic) !== 0;
  const size =
    1 +
    4 +
    strSize(p.clientMsgNo) +
    (stream ? strSize(p.streamNo ?? "") : 0) +
    strSize(p.channelId) +
    1 +
    (version >= 3 ? 4 : 0) +
    strSize(p.msgKey) +
    (topic ? strSize(p.topic ?? "") : 0) +
    p.payload.byteLength;
  const w = frameWriter(PacketType.SEND, flagBits(p), size);
  w.u8(p.setting);
  w.u32(p.clientSeq);
  w.str(p.clientMsgNo);
  if (stream) w.str(p.streamNo ?? "");
  w.str(p.channelId);
  w.u8(p.channelType);
  if (version >= 3) w.u32(p.expire ?? 0);
  w.str(p.msgKey);
  if (topic) w.str(p.topic ?? "");
  w.bytes(p.payload);
  return w.finish();
}

export function decodeSendBody(body: BodySource, flags: number, version: number): SendPacket {
  checkVersion(version);
  const r = toReader(body);
  const setting = r.u8();
  const p: SendPacket = {
    type: PacketType.SEND,
    ...flagsFromBits(flags),
    setting,
    clientSeq: r.u32(),
    clientMsgNo: r.str(),
    channelId: "",
    channelType: 0,
    msgKey: "",
    payload: EMPTY,
  };
  if (hasStreamFields(version, setting)) p.streamNo = r.str();
  p.channelId = r.str();
  p.channelType = r.u8();
  if (version >= 3) p.expire = r.u32();
  p.msgKey = r.str();
  if ((setting & Setting.Topic) !== 0) p.topic = r.str();
  p.payload = r.rest();
  return p;
}

const EMPTY = new Uint8Array(0);
