/**
 * The fixed header shared by every packet: type in the high nibble, flags in the low nibble,
 * then the remaining length as a varint (PING/PONG are the header byte alone).
 */
import { Reader, Writer, varintSize } from "./bytes.js";
import { HeaderFlag, type PacketType } from "./constants.js";

/** Header flags of SEND, RECV and RECVACK, as booleans. */
export interface HeaderFlags {
  dup: boolean;
  syncOnce: boolean;
  redDot: boolean;
  noPersist: boolean;
}

/** Body decoders take a Reader bounded to the body, or the body bytes alone. */
export type BodySource = Reader | Uint8Array;

export function toReader(body: BodySource): Reader {
  return body instanceof Reader ? body : new Reader(body);
}

export function flagBits(p: HeaderFlags): number {
  return (
    (p.dup ? HeaderFlag.DUP : 0) |
    (p.syncOnce ? HeaderFlag.SyncOnce : 0) |
    (p.redDot ? HeaderFlag.RedDot : 0) |
    (p.noPersist ? HeaderFlag.NoPersist : 0)
  );
}

export function flagsFromBits(bits: number): HeaderFlags {
  return {
    dup: (bits & HeaderFlag.DUP) !== 0,
    syncOnce: (bits & HeaderFlag.SyncOnce) !== 0,
    redDot: (bits & HeaderFlag.RedDot) !== 0,
    noPersist: (bits & HeaderFlag.NoPersist) !== 0,
  };
}

/** A Writer sized for the whole frame, with the fixed header and length already written. */
export function frameWriter(type: PacketType, flags: number, bodySize: number): Writer {
  const w = new Writer(1 + varintSize(bodySize) + bodySize);
  w.u8((type << 4) | (flags & 0x0f));
  w.varint(bodySize);
  return w;
}
