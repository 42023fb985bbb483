import { strSize } from "./bytes.js";
import { PacketType } from "./constants.js";
import { type BodySource, frameWriter, toReader } from "./header.js";
import { checkVersion } from "./version.js";

/** SENDACK (server → client), correlated by clientSeq. */
export interface SendackPacket {
  type: PacketType.SENDACK;
  messageId: number;
  clientSeq: number;
  /** u32 on the wire; u64 from version 6. */
  messageSeq: number;
  reasonCode: number;
  /**
   * WuKongIM v3 appends it when non-empty; older clients (both JS SDKs) stop reading before it.
   * Decoded only when the frame carries it.
   */
  clientMsgNo?: string;
}

export function encodeSendack(p: SendackPacket, version: number): Buffer {
  checkVersion(version);
  const withMsgNo = p.clientMsgNo !== undefined && p.clientMsgNo !== "";
  const size = 8 + 4 + (version >= 6 ? 8 : 4) + 1 + (withMsgNo ? strSize(p.clientMsgNo ?? "") : 0);
  const w = frameWriter(PacketType.SENDACK, 0, size);
  w.i64(p.messageId);
  w.u32(p.clientSeq);
  if (version >= 6) w.u64(p.messageSeq);
  else w.u32(p.messageSeq);
  w.u8(p.reasonCode);
  if (withMsgNo) w.str(p.clientMsgNo ?? "");
  return w.finish();
}

export function decodeSendackBody(body: BodySource, _flags: number, version: number): SendackPacket {
  checkVersion(version);
  const r = toReader(body);
  const p: SendackPacket = {
    type: PacketType.SENDACK,
    messageId: r.i64(),
    clientSeq: r.u32(),
    messageSeq: version >= 6 ? r.u64() : r.u32(),
    reasonCode: r.u8(),
  };
  if (r.remaining > 0) p.clientMsgNo = r.str();
  return p;
}
