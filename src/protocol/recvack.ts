import { PacketType } from "./constants.js";
import { type BodySource, type HeaderFlags, flagBits, flagsFromBits, frameWriter, toReader } from "./header.js";
import { checkVersion } from "./version.js";

/** RECVACK (client → server). The JS SDK copies the RECV's RedDot, SyncOnce and NoPersist flags into it. */
export interface RecvackPacket extends HeaderFlags {
  type: PacketType.RECVACK;
  messageId: number;
  /** u32 on the wire; u64 from version 6. */
  messageSeq: number;
}

/** The RECVACK for a received message (flags clear). */
export function recvackFor(recv: { messageId: number; messageSeq: number }): RecvackPacket {
  return {
    type: PacketType.RECVACK,
    dup: false,
    syncOnce: false,
    redDot: false,
    noPersist: false,
    messageId: recv.messageId,
    messageSeq: recv.messageSeq,
  };
}

export function encodeRecvack(p: RecvackPacket, version: number): Buffer {
  checkVersion(version);
  const w = frameWriter(PacketType.RECVACK, flagBits(p), version >= 6 ? 16 : 12);
  w.i64(p.messageId);
  if (version >= 6) w.u64(p.messageSeq);
  else w.u32(p.messageSeq);
  return w.finish();
}

export function decodeRecvackBody(body: BodySource, flags: number, version: number): RecvackPacket {
  checkVersion(version);
  const r = toReader(body);
  return {
    type: PacketType.RECVACK,
    ...flagsFromBits(flags),
    messageId: r.i64(),
    messageSeq: version >= 6 ? r.u64() : r.u32(),
  };
}
