/**
 * Stream decoder: bytes in (TCP segments or WebSocket messages, which the JS SDK also packs with
 * several frames), packets out. Frames may be glued together or split at any byte, including
 * inside the length varint. A frame that lies wholly inside one chunk is decoded in place (no
 * copy, no allocation besides the packet). A frame that spans chunks is copied into one buffer
 * that grows by doubling up to the frame's size: memory follows what arrived, not what a header
 * claims (a 5-byte header must not make us allocate 1 MiB), and a frame trickling in byte by byte
 * costs amortized O(1) per byte. Decoded packets may reference the pushed chunk's memory, so
 * callers must not reuse a chunk after pushing it.
 */
import { Reader, asBuffer } from "./bytes.js";
import { type FrameHead, type Packet, decodeFrameBody, parseFrameHead } from "./codec.js";
import { DEFAULT_MAX_FRAME, LATEST_VERSION, MAX_CODEC_VERSION, MIN_VERSION, PacketType, ReasonCode } from "./constants.js";
import { ProtocolError, headerError } from "./errors.js";
import { checkVersion, negotiateVersion } from "./version.js";

/** First buffer for a split frame; small frames get exactly their size. */
const INITIAL_PENDING = 4096;

export interface FrameDecoderOptions {
  /** Largest remaining_length (body bytes) accepted; checked before any body is buffered. Default 1 MiB. */
  maxFrameSize?: number;
  /** Version used for packets before the handshake settles it. Default LATEST_VERSION. */
  version?: number;
  /**
   * Follow the handshake: after a CONNECT switch to negotiateVersion(connect.version), after a
   * CONNACK with a server_version switch to it. Frames glued behind a CONNECT in the same chunk
   * then decode at the right version before the caller had a chance to call setVersion().
   * Default true.
   */
  followHandshake?: boolean;
}

export class FrameDecoder {
  private version: number;
  private readonly maxFrameSize: number;
  private readonly followHandshake: boolean;
  private failure: ProtocolError | undefined;
  /** An incomplete fixed header (at most 4 bytes: type byte + 3 varint bytes). */
  private readonly head = new Uint8Array(5);
  private headLength = 0;
  /** A frame spanning chunks: its parsed header, its total size, and the bytes so far in buf[0, filled). */
  private pending: { head: FrameHead; size: number; buf: Buffer; filled: number } | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    const version = options.version ?? LATEST_VERSION;
    checkVersion(version);
    this.version = version;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME;
    this.followHandshake = options.followHandshake ?? true;
  }

  get currentVersion(): number {
    return this.version;
  }

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.pending ? this.pending.filled : this.headLength;
  }

  /** True after an error: the connection must be closed. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Set the negotiated version (after CONNECT on the server, after CONNACK on a client). */
  setVersion(version: number): void {
    checkVersion(version);
    this.version = version;
  }

  /** Decodes every frame completed by `chunk`. Throws ProtocolError; after that the decoder is dead. */
  push(chunk: Uint8Array): Packet[] {
    if (this.failure) {
      throw new ProtocolError(this.failure.reason, `decoder failed earlier: ${this.failure.message}`, { cause: this.failure });
    }
    try {
      return this.consume(asBuffer(chunk));
    } catch (err) {
      // Anything but a ProtocolError would be a bug here; still report it as one typed error.
      const failure =
        err instanceof ProtocolError
          ? err
          : new ProtocolError(ReasonCode.SystemError, `frame decoder bug: ${(err as Error)?.message}`, { cause: err });
      this.failure = failure;
      this.pending = undefined;
      this.headLength = 0;
      throw failure;
    }
  }

  private consume(buf: Buffer): Packet[] {
    const out: Packet[] = [];
    const end = buf.length;
    let pos = 0;
    if (this.headLength > 0) pos = this.completeHead(buf);
    if (this.pending) {
      pos = this.fillPending(buf, pos, out);
      if (this.pending) return out;
    }
    while (pos < end) {
      const head = parseFrameHead(buf, pos, end);
      if (head === undefined) {
        // The header itself is split: keep its (at most 4) bytes.
        this.head.set(buf.subarray(pos, end));
        this.headLength = end - pos;
        break;
      }
      this.checkSize(head);
      const size = head.headerLength + head.bodyLength;
      if (pos + size <= end) {
        out.push(this.decode(head, buf, pos));
        pos += size;
      } else {
        this.startPending(head, buf.subarray(pos, end));
        break;
      }
    }
    return out;
  }

  /** Feeds bytes into a split header one at a time until it parses; returns the next unread position. */
  private completeHead(buf: Buffer): number {
    let pos = 0;
    while (pos < buf.length) {
      this.head[this.headLength++] = buf[pos++];
      const head = parseFrameHead(this.head, 0, this.headLength);
      if (head === undefined) continue;
      this.checkSize(head);
      this.startPending(head, this.head.subarray(0, this.headLength));
      this.headLength = 0;
      break;
    }
    return pos;
  }

  private startPending(head: FrameHead, first: Uint8Array): void {
    const size = head.headerLength + head.bodyLength;
    const buf = Buffer.allocUnsafe(Math.min(size, Math.max(2 * first.length, INITIAL_PENDING)));
    buf.set(first);
    this.pending = { head, size, buf, filled: first.length };
  }

  private fillPending(buf: Buffer, pos: number, out: Packet[]): number {
    const p = this.pending!;
    const n = Math.min(p.size - p.filled, buf.length - pos);
    if (p.filled + n > p.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(p.size, Math.max(p.filled + n, 2 * p.buf.length)));
      p.buf.copy(grown, 0, 0, p.filled);
      p.buf = grown;
    }
    buf.copy(p.buf, p.filled, pos, pos + n);
    p.filled += n;
    if (p.filled === p.size) {
      this.pending = undefined;
      out.push(this.decode(p.head, p.buf, 0));
    }
    return pos + n;
  }

  private checkSize(head: FrameHead): void {
    if (head.bodyLength > this.maxFrameSize) {
      throw headerError(`frame of ${head.bodyLength} bytes exceeds the limit of ${this.maxFrameSize}`);
    }
  }

  private decode(head: FrameHead, buf: Buffer, pos: number): Packet {
    const reader = new Reader(buf, pos + head.headerLength, pos + head.headerLength + head.bodyLength);
    const packet = decodeFrameBody(head.type, head.flags, reader, this.version);
    if (this.followHandshake) this.follow(packet);
    return packet;
  }

  private follow(packet: Packet): void {
    let next: number | undefined;
    if (packet.type === PacketType.CONNECT) next = negotiateVersion(packet.version);
    else if (packet.type === PacketType.CONNACK && packet.hasServerVersion) next = packet.serverVersion;
    // Out-of-range versions are the caller's to refuse; keep decoding at the current one meanwhile.
    if (next !== undefined && next >= MIN_VERSION && next <= MAX_CODEC_VERSION) this.version = next;
  }
}
