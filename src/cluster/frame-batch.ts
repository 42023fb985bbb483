/**
 * Coalescing of bus frames, shared by every MessageBus backend so that backends only move bytes.
 *
 * Sender: frames published in the same event-loop tick to the same target (a channel or subject)
 * are concatenated into one message, each frame length-prefixed (u32 BE length + bytes, so
 * frames never run together). Receiver: a message is split back into frames, in order.
 *
 * A message starts with one kind byte:
 *   BATCH     0x01, then records: (u32 BE length, bytes)*
 *   FRAGMENT  0x02, u32 stream id, u32 index, u32 count, u32 total length, chunk bytes
 * A frame too large for one message (NATS caps a message at 1 MiB by default) is sent as
 * FRAGMENTs in consecutive messages on the same target; brokers keep a publisher's order per
 * target, so fragments arrive in order and the receiver reassembles them.
 */
import { randomInt } from "node:crypto";
import { asBuffer } from "../protocol/bytes.js";
import { SwitchboardError } from "../util/errors.js";

/** Largest message a backend publishes (NATS' default max_payload); larger frames are fragmented. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** Largest single frame accepted, on both sides. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** A partly received fragmented frame is dropped when its next piece has not come within this. */
export const FRAGMENT_TIMEOUT_MS = 10_000;
/** Bytes of partly received frames a receiver holds at most (the oldest are dropped first). */
export const MAX_PENDING_FRAGMENT_BYTES = 128 * 1024 * 1024;

const KIND_BATCH = 0x01;
const KIND_FRAGMENT = 0x02;
const RECORD_HEADER = 4;
const FRAGMENT_HEADER = 17;
/** Below this a message could not carry even a fragment header and one byte. */
const MIN_MESSAGE_BYTES = 64;

/** A bus message that cannot be split into frames. */
export class FrameBatchError extends SwitchboardError {
  constructor(message: string) {
    super("bad_bus_message", message);
  }
}

export interface OutgoingMessage {
  target: string;
  message: Buffer;
}

export interface FrameBatcherOptions {
  /** Called once per flush with every message, in publish order per target. */
  send(messages: OutgoingMessage[]): void;
  maxMessageBytes?: number;
  /** How a flush is deferred to the end of the tick; setImmediate unless a test says otherwise. */
  schedule?: (flush: () => void) => void;
}

/** Sender side: coalesces frames per target until the end of the tick. */
export class FrameBatcher {
  private readonly sendOut: (messages: OutgoingMessage[]) => void;
  private readonly schedule: (flush: () => void) => void;
  private maxMessageBytes: number;
  /** Frames waiting per target, with their total record size (a Map keeps first-publish order). */
  private pending = new Map<string, { frames: Uint8Array[]; bytes: number }>();
  private scheduled = false;
  /** Stream ids of fragmented frames: a random start so two senders rarely share one. */
  private nextStreamId = randomInt(0x1_0000_0000);

  constructor(options: FrameBatcherOptions) {
    this.sendOut = options.send;
    this.schedule = options.schedule ?? ((fn) => setImmediate(fn));
    this.maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
    this.setMaxMessageBytes(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  }

  /** Lower (or raise) the message cap, e.g. once a NATS server tells its max_payload. */
  setMaxMessageBytes(n: number): void {
    if (!Number.isInteger(n) || n < MIN_MESSAGE_BYTES)
      throw new FrameBatchError(`maxMessageBytes must be an integer >= ${MIN_MESSAGE_BYTES}`);
    this.maxMessageBytes = n;
  }

  /** Queue a frame for `target`; it leaves at the end of this tick (or at flush()). */
  add(target: string, frame: Uint8Array): void {
    if (frame.byteLength > MAX_FRAME_BYTES) throw new FrameBatchError(`frame of ${frame.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`);
    const queue = this.pending.get(target);
    if (queue) {
      queue.frames.push(frame);
      queue.bytes += RECORD_HEADER + frame.byteLength;
    } else {
      this.pending.set(target, { frames: [frame], bytes: RECORD_HEADER + frame.byteLength });
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  }

  /** Frames not yet handed to send(). */
  get pendingFrames(): number {
    let n = 0;
    for (const q of this.pending.values()) n += q.frames.length;
    return n;
  }

  /** Hand everything queued to send() now. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    const out: OutgoingMessage[] = [];
    for (const [target, queue] of pending) this.pack(target, queue.frames, queue.bytes, out);
    this.sendOut(out);
  }

  private pack(target: string, frames: Uint8Array[], totalBytes: number, out: OutgoingMessage[]): void {
    const limit = this.maxMessageBytes;
    // The common case: everything for this target fits one message.
    if (1 + totalBytes <= limit) {
      out.push({ target, message: encodeBatch(frames, 1 + totalBytes) });
      return;
    }
    let batch: Uint8Array[] = [];
    let size = 1;
    const close = () => {
      if (batch.length > 0) out.push({ target, message: encodeBatch(batch, size) });
      batch = [];
      size = 1;
    };
    for (const frame of frames) {
      const record = RECORD_HEADER + frame.byteLength;
      if (1 + record > limit) {
        close();
        this.fragment(target, frame, out);
        continue;
      }
      if (size + record > limit) close();
      batch.push(frame);
      size += record;
    }
    close();
  }

  private fragment(target: string, frame: Uint8Array, out: OutgoingMessage[]): void {
    const chunk = this.maxMessageBytes - FRAGMENT_HEADER;
    const count = Math.ceil(frame.byteLength / chunk);
    const id = this.nextStreamId;
    this.nextStreamId = (this.nextStreamId + 1) >>> 0;
    for (let index = 0; index < count; index++) {
      const part = frame.subarray(index * chunk, Math.min(frame.byteLength, (index + 1) * chunk));
      const message = Buffer.allocUnsafe(FRAGMENT_HEADER + part.byteLength);
      message[0] = KIND_FRAGMENT;
      message.writeUInt32BE(id, 1);
      message.writeUInt32BE(index, 5);
      message.writeUInt32BE(count, 9);
      message.writeUInt32BE(frame.byteLength, 13);
      message.set(part, FRAGMENT_HEADER);
      out.push({ target, message });
    }
  }
}

/** One BATCH message holding `frames` (size precomputed by the caller or computed here). */
export function encodeBatch(frames: readonly Uint8Array[], size?: number): Buffer {
  const total = size ?? 1 + frames.reduce((n, f) => n + RECORD_HEADER + f.byteLength, 0);
  const out = Buffer.allocUnsafe(total);
  out[0] = KIND_BATCH;
  let pos = 1;
  for (const frame of frames) {
    out.writeUInt32BE(frame.byteLength, pos);
    out.set(frame, pos + RECORD_HEADER);
    pos += RECORD_HEADER + frame.byteLength;
  }
  return out;
}

/** The frames of a BATCH message; the frames are views into `message`, not copies. */
export function decodeBatch(message: Uint8Array): Uint8Array[] {
  const view = asBuffer(message);
  if (view.byteLength < 1 || view[0] !== KIND_BATCH) throw new FrameBatchError("not a batch message");
  const frames: Uint8Array[] = [];
  let pos = 1;
  while (pos < view.byteLength) {
    if (pos + RECORD_HEADER > view.byteLength) throw new FrameBatchError(`truncated record header at byte ${pos}`);
    const len = view.readUInt32BE(pos);
    pos += RECORD_HEADER;
    if (len > view.byteLength - pos) throw new FrameBatchError(`record of ${len} bytes overruns the message at byte ${pos}`);
    frames.push(view.subarray(pos, pos + len));
    pos += len;
  }
  return frames;
}

interface PartialFrame {
  count: number;
  total: number;
  parts: Uint8Array[];
  received: number;
  touchedAt: number;
}

export interface FrameSplitterOptions {
  fragmentTimeoutMs?: number;
  maxPendingBytes?: number;
  now?: () => number;
}

/** Receiver side: turns messages back into frames, reassembling fragmented ones. */
export class FrameSplitter {
  private readonly partials = new Map<number, PartialFrame>();
  private pendingBytes = 0;
  private readonly timeoutMs: number;
  private readonly maxPendingBytes: number;
  private readonly now: () => number;

  constructor(options: FrameSplitterOptions = {}) {
    this.timeoutMs = options.fragmentTimeoutMs ?? FRAGMENT_TIMEOUT_MS;
    this.maxPendingBytes = options.maxPendingBytes ?? MAX_PENDING_FRAGMENT_BYTES;
    this.now = options.now ?? Date.now;
  }

  /** Frames complete with this message (none for a middle fragment). Throws FrameBatchError. */
  push(message: Uint8Array): Uint8Array[] {
    const view = asBuffer(message);
    if (view.byteLength === 0) throw new FrameBatchError("empty bus message");
    if (view[0] === KIND_BATCH) return decodeBatch(view);
    if (view[0] !== KIND_FRAGMENT) throw new FrameBatchError(`unknown bus message kind ${view[0]}`);
    if (view.byteLength < FRAGMENT_HEADER) throw new FrameBatchError("truncated fragment header");
    const id = view.readUInt32BE(1);
    const index = view.readUInt32BE(5);
    const count = view.readUInt32BE(9);
    const total = view.readUInt32BE(13);
    const chunk = view.subarray(FRAGMENT_HEADER);
    if (count < 1 || index >= count) throw new FrameBatchError(`fragment ${index} of ${count}`);
    if (total > MAX_FRAME_BYTES) throw new FrameBatchError(`fragmented frame of ${total} bytes exceeds ${MAX_FRAME_BYTES}`);
    const now = this.now();
    this.expire(now);
    let partial = this.partials.get(id);
    if (index === 0) {
      // A new stream; a leftover under the same id lost its tail.
      if (partial) this.drop(id, partial);
      partial = { count, total, parts: [], received: 0, touchedAt: now };
      this.partials.set(id, partial);
    } else if (!partial || partial.parts.length !== index || partial.count !== count || partial.total !== total) {
      // A piece was lost (at-most-once brokers): the frame cannot be rebuilt.
      if (partial) this.drop(id, partial);
      throw new FrameBatchError(`fragment ${index} of stream ${id} arrived without its predecessors`);
    }
    if (partial.received + chunk.byteLength > partial.total) {
      this.drop(id, partial);
      throw new FrameBatchError(`fragments of stream ${id} exceed the announced ${total} bytes`);
    }
    // Copy: the chunk is a view into a message buffer the transport may reuse.
    partial.parts.push(Buffer.from(chunk));
    partial.received += chunk.byteLength;
    partial.touchedAt = now;
    this.pendingBytes += chunk.byteLength;
    this.trim(id);
    if (partial.parts.length < partial.count) return [];
    this.drop(id, partial);
    if (partial.received !== partial.total) throw new FrameBatchError(`stream ${id} ended at ${partial.received} of ${total} bytes`);
    return [Buffer.concat(partial.parts, partial.total)];
  }

  /** Bytes held for incomplete fragmented frames. */
  get heldBytes(): number {
    return this.pendingBytes;
  }

  private drop(id: number, partial: PartialFrame): void {
    this.partials.delete(id);
    this.pendingBytes -= partial.received;
  }

  private expire(now: number): void {
    for (const [id, partial] of this.partials) {
      if (now - partial.touchedAt > this.timeoutMs) this.drop(id, partial);
    }
  }

  /** Over the byte cap: drop the oldest streams (Map order is insertion order), never the current one. */
  private trim(current: number): void {
    for (const [id, partial] of this.partials) {
      if (this.pendingBytes <= this.maxPendingBytes) return;
      if (id !== current) this.drop(id, partial);
    }
  }
}
