/**
 * What frames between gateway nodes mean: a union on `type` with a compact binary form (no JSON
 * on the delivery path). The bus moves these frames as opaque bytes.
 *
 * Layout: u8 version, u8 type, then per type. Integers are unsigned LEB128 varints (safe integers
 * only); strings are varint byte length + UTF-8; payload is varint length + bytes.
 *   deliver (1): u8 flags, messageId, messageSeq, channelType, setting, expire, timestamp,
 *                clientMsgNo, fromUid, channelId, topic, payload, uid count + uids,
 *                [skipNodes count + ids when flag set]
 *   kick (2):    uid, deviceFlag, exceptEpoch, reason
 *   canary (3):  fromNode, id, sentAt
 * Decoding never reads past the frame and throws ClusterProtocolError on anything malformed.
 */
import { isUtf8 } from "node:buffer";
import { asBuffer } from "../protocol/bytes.js";
import { messageHeaderBits, messageHeaderFromBits } from "../protocol/header.js";
import type { StoredMessage } from "../store/message-store.js";
import { SwitchboardError } from "../util/errors.js";

export const CLUSTER_PROTOCOL_VERSION = 1;

/**
 * A stored message for local sessions of `uids` on the receiving node (one frame per
 * target node carrying all its uids). With `all`, the frame was broadcast to every node and
 * `uids` is the full recipient list: each node delivers to whichever of them it holds.
 */
export interface DeliverMessage extends StoredMessage {
  type: "deliver";
  uids: string[];
  all?: true;
  /** Nodes that already delivered it (e.g. the sender's own process) and must ignore the frame. */
  skipNodes?: string[];
}

/** Close the sessions of (uid, deviceFlag) whose epoch is older than exceptEpoch: a newer login won. */
export interface KickMessage {
  type: "kick";
  uid: string;
  deviceFlag: number;
  exceptEpoch: number;
  reason: string;
}

/** Sent through the bus to itself and others; a node that stops seeing them has lost its subscription. */
export interface CanaryMessage {
  type: "canary";
  fromNode: string;
  id: number;
  sentAt: number;
}

export type ClusterMessage = DeliverMessage | KickMessage | CanaryMessage;

export class ClusterProtocolError extends SwitchboardError {
  constructor(message: string) {
    super("bad_cluster_frame", message);
  }
}

const TYPE_DELIVER = 1;
const TYPE_KICK = 2;
const TYPE_CANARY = 3;

// Deliver flags: the message header's bits as on the wire (1, 2, 4; protocol/header.ts), then
// this frame's own. Bit 8 is DUP on the wire, but a stored message has no DUP, so it is free here.
const F_HEADER = messageHeaderBits({ noPersist: true, redDot: true, syncOnce: true });
const F_ALL = 8;
const F_SKIP_NODES = 16;
const KNOWN_FLAGS = F_HEADER | F_ALL | F_SKIP_NODES;

/** A deliver frame for a stored message. */
export function deliverMessage(message: StoredMessage, uids: string[], extra: { all?: true; skipNodes?: string[] } = {}): DeliverMessage {
  const out: DeliverMessage = { type: "deliver", ...message, uids };
  if (extra.all) out.all = true;
  if (extra.skipNodes && extra.skipNodes.length > 0) out.skipNodes = extra.skipNodes;
  return out;
}

export function encodeClusterMessage(msg: ClusterMessage): Buffer {
  const w = new Writer();
  w.u8(CLUSTER_PROTOCOL_VERSION);
  switch (msg.type) {
    case "deliver": {
      w.u8(TYPE_DELIVER);
      let flags = messageHeaderBits(msg.header);
      if (msg.all) flags |= F_ALL;
      if (msg.skipNodes && msg.skipNodes.length > 0) flags |= F_SKIP_NODES;
      w.u8(flags);
      for (const n of [msg.messageId, msg.messageSeq, msg.channelType, msg.setting, msg.expire, msg.timestamp]) w.varint(n);
      for (const s of [msg.clientMsgNo, msg.fromUid, msg.channelId, msg.topic]) w.str(s);
      w.bytes(msg.payload);
      w.strs(msg.uids);
      if (flags & F_SKIP_NODES) w.strs(msg.skipNodes!);
      break;
    }
    case "kick":
      w.u8(TYPE_KICK);
      w.str(msg.uid);
      w.varint(msg.deviceFlag);
      w.varint(msg.exceptEpoch);
      w.str(msg.reason);
      break;
    case "canary":
      w.u8(TYPE_CANARY);
      w.str(msg.fromNode);
      w.varint(msg.id);
      w.varint(msg.sentAt);
      break;
    default:
      throw new ClusterProtocolError(`cannot encode message type ${String((msg as { type?: unknown }).type)}`);
  }
  return w.finish();
}

/** Decode one frame. Payload bytes are a view into `frame`, not a copy. */
export function decodeClusterMessage(frame: Uint8Array): ClusterMessage {
  const r = new Reader(frame);
  const version = r.u8();
  if (version !== CLUSTER_PROTOCOL_VERSION) throw new ClusterProtocolError(`unsupported cluster protocol version ${version}`);
  const type = r.u8();
  let msg: ClusterMessage;
  if (type === TYPE_DELIVER) {
    const flags = r.u8();
    if (flags & ~KNOWN_FLAGS) throw new ClusterProtocolError(`unknown deliver flags 0x${flags.toString(16)}`);
    const [messageId, messageSeq, channelType, setting, expire, timestamp] = [
      r.varint(),
      r.varint(),
      r.varint(),
      r.varint(),
      r.varint(),
      r.varint(),
    ];
    const [clientMsgNo, fromUid, channelId, topic] = [r.str(), r.str(), r.str(), r.str()];
    const payload = r.bytes();
    const uids = r.strs();
    const deliver: DeliverMessage = {
      type: "deliver",
      messageId,
      messageSeq,
      clientMsgNo,
      fromUid,
      channelId,
      channelType,
      header: messageHeaderFromBits(flags),
      setting,
      expire,
      topic,
      timestamp,
      payload,
      uids,
    };
    if (flags & F_ALL) deliver.all = true;
    if (flags & F_SKIP_NODES) deliver.skipNodes = r.strs();
    msg = deliver;
  } else if (type === TYPE_KICK) {
    msg = { type: "kick", uid: r.str(), deviceFlag: r.varint(), exceptEpoch: r.varint(), reason: r.str() };
  } else if (type === TYPE_CANARY) {
    msg = { type: "canary", fromNode: r.str(), id: r.varint(), sentAt: r.varint() };
  } else {
    throw new ClusterProtocolError(`unknown cluster message type ${type}`);
  }
  r.end();
  return msg;
}

/** Growable output; most frames fit the first allocation. */
class Writer {
  private buf = Buffer.allocUnsafe(256);
  private pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(n: number): void {
    this.room(1);
    this.buf[this.pos++] = n;
  }

  varint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new ClusterProtocolError(`cannot encode ${n}: not a non-negative safe integer`);
    this.room(8);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  str(s: string): void {
    if (typeof s !== "string") throw new ClusterProtocolError(`cannot encode ${typeof s} as a string`);
    const n = Buffer.byteLength(s, "utf8");
    this.varint(n);
    this.room(n);
    this.pos += this.buf.write(s, this.pos, "utf8");
  }

  strs(list: readonly string[]): void {
    if (!Array.isArray(list)) throw new ClusterProtocolError("cannot encode a string list that is not an array");
    this.varint(list.length);
    for (const s of list) this.str(s);
  }

  bytes(b: Uint8Array): void {
    if (!(b instanceof Uint8Array)) throw new ClusterProtocolError("payload must be a Uint8Array");
    this.varint(b.byteLength);
    this.room(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  private readonly buf: Buffer;
  private pos = 0;

  constructor(frame: Uint8Array) {
    if (!(frame instanceof Uint8Array)) throw new ClusterProtocolError("a cluster frame must be bytes");
    this.buf = asBuffer(frame);
  }

  private need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) throw new ClusterProtocolError(`truncated frame: ${what} needs ${n} bytes at ${this.pos}`);
  }

  u8(): number {
    this.need(1, "a byte");
    return this.buf[this.pos++];
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    // 8 groups of 7 bits cover every safe integer (53 bits).
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (value > Number.MAX_SAFE_INTEGER) throw new ClusterProtocolError(`integer at ${this.pos} exceeds 2^53`);
        return value;
      }
      scale *= 0x80;
    }
    throw new ClusterProtocolError(`varint longer than 8 bytes at ${this.pos}`);
  }

  str(): string {
    const n = this.varint();
    this.need(n, "a string");
    const view = this.buf.subarray(this.pos, this.pos + n);
    if (!isUtf8(view)) throw new ClusterProtocolError(`invalid UTF-8 in a string at ${this.pos}`);
    this.pos += n;
    return view.toString("utf8");
  }

  strs(): string[] {
    const count = this.varint();
    // Every string takes at least its length byte: a larger count is a lie, refuse before allocating.
    if (count > this.buf.length - this.pos) throw new ClusterProtocolError(`list of ${count} strings cannot fit the frame`);
    const out = new Array<string>(count);
    for (let i = 0; i < count; i++) out[i] = this.str();
    return out;
  }

  bytes(): Uint8Array {
    const n = this.varint();
    this.need(n, "the payload");
    const view = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return view;
  }

  end(): void {
    if (this.pos !== this.buf.length) throw new ClusterProtocolError(`${this.buf.length - this.pos} trailing bytes after the message`);
  }
}
