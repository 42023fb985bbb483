import { viewChannelId } from "../store/channel-id.js";
import type { MessageHeader, StoredMessage } from "../store/message-store.js";
import { InvalidArgumentError } from "../util/errors.js";
import { field } from "./body.js";

/** WuKongIM's MessageResp, seen by `uid` (person channels show the peer's uid). */
export function messageResp(m: StoredMessage, uid?: string) {
  return {
    header: { no_persist: m.header.noPersist ? 1 : 0, red_dot: m.header.redDot ? 1 : 0, sync_once: m.header.syncOnce ? 1 : 0 },
    setting: m.setting,
    message_id: m.messageId,
    message_idstr: String(m.messageId),
    client_msg_no: m.clientMsgNo,
    message_seq: m.messageSeq,
    from_uid: m.fromUid,
    channel_id: uid ? viewChannelId(uid, m.channelId, m.channelType) : m.channelId,
    channel_type: m.channelType,
    topic: m.topic || undefined,
    expire: m.expire,
    timestamp: m.timestamp,
    payload: Buffer.from(m.payload).toString("base64"),
  };
}

/** `header: {no_persist, red_dot, sync_once}` with 0/1 or booleans; absent = red dot only, like WuKongIM. */
export function parseHeader(value: unknown): MessageHeader {
  if (value === undefined || value === null) return { noPersist: false, redDot: true, syncOnce: false };
  if (typeof value !== "object" || Array.isArray(value)) throw new InvalidArgumentError("header must be an object");
  const h = value as Record<string, unknown>;
  return {
    noPersist: field.optionalBool(h, "no_persist"),
    redDot: field.optionalBool(h, "red_dot", true),
    syncOnce: field.optionalBool(h, "sync_once"),
  };
}

/** Base64 payload (standard or URL-safe); empty is allowed, anything else not base64 is a 400. */
export function parsePayload(value: unknown, maxBytes: number): Uint8Array {
  if (typeof value !== "string") throw new InvalidArgumentError("payload must be a base64 string");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw new InvalidArgumentError("payload is not valid base64");
  const bytes = Buffer.from(value, "base64");
  if (bytes.length > maxBytes) throw new InvalidArgumentError(`payload is ${bytes.length} bytes; at most ${maxBytes}`);
  return bytes;
}
