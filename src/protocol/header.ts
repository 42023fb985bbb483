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

/** The flags a message keeps once sent (DUP only marks one transmission). */
export type MessageHeaderFlags = Omit<HeaderFlags, "dup">;

/**
 * A message's flags as the wire's bits. Stored rows and cluster frames keep these same bits, so
 * this pair is the one place they are packed; changing a bit breaks stored data and mixed clusters.
 */
export function messageHeaderBits(h: MessageHeaderFlags): number {
  return (h.syncOnce ? HeaderFlag.SyncOnce : 0) | (h.redDot ? HeaderFlag.RedDot : 0) | (h.noPersist ? HeaderFlag.NoPersist : 0);
}

export function messageHeaderFromBits(bits: number): MessageHeaderFlags {
  return {
    syncOnce: (bits & HeaderFlag.SyncOnce) !== 0,
    redDot: (bits & HeaderFlag.RedDot) !== 0,
    noPersist: (bits & HeaderFlag.NoPersist) !== 0,
  };
}

export function flagBits(p: HeaderFlags): number {
  return (p.dup ? HeaderFlag.DUP : 0) | messageHeaderBits(p);
}

export function flagsFromBits(bits: number): HeaderFlags {
  return { dup: (bits & HeaderFlag.DUP) !== 0, ...messageHeaderFromBits(bits) };
}

/** A Writer sized for the whole frame, with the fixed header and length already written. */
export function frameWriter(type: PacketType, flags: number, bodySize: number): Writer {
  const w = new Writer(1 + varintSize(bodySize) + bodySize);
  w.u8((type << 4) | (flags & 0x0f));
  w.varint(bodySize);
  return w;
}
