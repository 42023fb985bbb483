/**
 * Big-endian primitives of the WuKongIM wire format. Encoders size the frame first and write
 * into one pre-sized Buffer; the Reader is bounds-checked and throws ProtocolError, so no decoder
 * ever sees a RangeError or reads past its frame.
 */
import { isUtf8 } from "node:buffer";
import { MAX_STRING_BYTES, MAX_VARINT } from "./constants.js";
import { bodyError, encodeError, headerError } from "./errors.js";

const TWO_32 = 0x1_0000_0000;

/** Wrap without copying: Buffer methods (toString, write) are the fast paths. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Bytes a varint takes; throws for values it cannot hold. */
export function varintSize(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_VARINT) throw encodeError(`remaining length ${n} does not fit a 4-byte varint`);
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : 4;
}

/** Wire size of a `str` (i16 length + UTF-8); throws if it is too long to encode. */
export function strSize(s: string): number {
  const n = Buffer.byteLength(s, "utf8");
  if (n > MAX_STRING_BYTES) throw encodeError(`string of ${n} bytes exceeds ${MAX_STRING_BYTES}`);
  return 2 + n;
}

export class Writer {
  readonly buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  u8(n: number): void {
    if ((n & 0xff) !== n) throw encodeError(`u8 out of range: ${n}`);
    this.buf[this.pos++] = n;
  }

  u16(n: number): void {
    if ((n & 0xffff) !== n) throw encodeError(`u16 out of range: ${n}`);
    this.buf[this.pos++] = n >>> 8;
    this.buf[this.pos++] = n & 0xff;
  }

  u32(n: number): void {
    if (n >>> 0 !== n) throw encodeError(`u32 out of range: ${n}`);
    this.raw32(n);
  }

  i32(n: number): void {
    if ((n | 0) !== n) throw encodeError(`i32 out of range: ${n}`);
    this.raw32(n);
  }

  /** Signed 64-bit from a safe integer (JS numbers cannot carry more without loss). */
  i64(n: number): void {
    if (!Number.isSafeInteger(n)) throw encodeError(`i64 is not a safe integer: ${n}`);
    const hi = Math.floor(n / TWO_32);
    this.raw32(hi);
    this.raw32(n - hi * TWO_32);
  }

  u64(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw encodeError(`u64 is not a non-negative safe integer: ${n}`);
    this.i64(n);
  }

  varint(n: number): void {
    varintSize(n);
    do {
      let digit = n % 0x80;
      n = Math.floor(n / 0x80);
      if (n > 0) digit |= 0x80;
      this.buf[this.pos++] = digit;
    } while (n > 0);
  }

  /** Callers sized the buffer with strSize(), so the string fits; its length is written after it. */
  str(s: string): void {
    const n = this.buf.write(s, this.pos + 2, "utf8");
    if (n > MAX_STRING_BYTES) throw encodeError(`string of ${n} bytes exceeds ${MAX_STRING_BYTES}`);
    this.buf[this.pos] = n >>> 8;
    this.buf[this.pos + 1] = n & 0xff;
    this.pos += 2 + n;
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  /** The finished buffer; a size mismatch means an encoder's size formula is wrong. */
  finish(): Buffer {
    if (this.pos !== this.buf.length) throw encodeError(`encoder wrote ${this.pos} of ${this.buf.length} bytes`);
    return this.buf;
  }

  private raw32(n: number): void {
    const b = this.buf;
    b[this.pos++] = (n >>> 24) & 0xff;
    b[this.pos++] = (n >>> 16) & 0xff;
    b[this.pos++] = (n >>> 8) & 0xff;
    b[this.pos++] = n & 0xff;
  }
}

/** Reads one packet body; `end` is the frame's end, never the chunk's. */
export class Reader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.byteLength) {
    this.buf = asBuffer(bytes);
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2);
    const b = this.buf;
    const v = (b[this.pos] << 8) | b[this.pos + 1];
    this.pos += 2;
    return v;
  }

  i16(): number {
    const v = this.u16();
    return v > 0x7fff ? v - 0x1_0000 : v;
  }

  u32(): number {
    this.need(4);
    return this.raw32() >>> 0;
  }

  i32(): number {
    this.need(4);
    return this.raw32();
  }

  /** Signed 64-bit as a number; values beyond ±2^53 lose precision (we only issue safe ids). */
  i64(): number {
    this.need(8);
    const hi = this.raw32();
    return hi * TWO_32 + (this.raw32() >>> 0);
  }

  u64(): number {
    this.need(8);
    const hi = this.raw32() >>> 0;
    return hi * TWO_32 + (this.raw32() >>> 0);
  }

  str(): string {
    const n = this.i16();
    if (n < 0) throw bodyError(`negative string length ${n}`);
    this.need(n);
    const start = this.pos;
    const end = start + n;
    this.pos = end;
    const b = this.buf;
    // Protocol strings are nearly always ASCII: check that cheaply, validate UTF-8 only otherwise.
    for (let i = start; i < end; i++) {
      if (b[i] >= 0x80) {
        if (!isUtf8(b.subarray(start, end))) throw bodyError("string is not valid UTF-8");
        return b.toString("utf8", start, end);
      }
    }
    return b.toString("latin1", start, end);
  }

  /** A view (no copy) of the next n bytes. */
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Everything left in the frame, as a view. */
  rest(): Uint8Array {
    return this.bytes(this.end - this.pos);
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw bodyError(`truncated body: need ${n} bytes at offset ${this.pos}, ${this.end - this.pos} left`);
  }

  private raw32(): number {
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
  }
}

/**
 * Parses a varint at `pos`. Returns [value, bytesUsed], or undefined when the bytes end before
 * the varint does. A 4th byte with the continuation bit set is an error (MQTT limit).
 */
export function readVarint(buf: Uint8Array, pos: number, end: number): [number, number] | undefined {
  let value = 0;
  let shift = 1;
  for (let i = 0; i < 4; i++) {
    if (pos + i >= end) return undefined;
    const b = buf[pos + i];
    value += (b & 0x7f) * shift;
    if ((b & 0x80) === 0) return [value, i + 1];
    shift *= 0x80;
  }
  throw headerError("remaining length varint is longer than 4 bytes");
}
