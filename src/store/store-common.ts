/**
 * What the message-store backends share: input validation, the plan of a
 * range read (WuKongIM pull_mode), conversation shaping and the migration list type. Backends
 * only differ in SQL and in how they serialize concurrent writers.
 */
import { messageHeaderFromBits } from "../protocol/header.js";
import { ConfigError, InvalidArgumentError } from "../util/errors.js";
import { assertUidShape } from "../util/validate.js";
import { ChannelType, PERSON_SEPARATOR } from "./channel-id.js";
import type {
  Account,
  AppendInput,
  Conversation,
  ConversationSyncQuery,
  MessageRangeQuery,
  StoredMessage,
  TokenRecord,
} from "./message-store.js";

/** Largest `limit` of a range read and largest seq list, as WuKongIM caps messagesync. */
export const MAX_RANGE_LIMIT = 10_000;
/** Largest msgCount of a conversation sync (recents per conversation). */
export const MAX_RECENTS = 1_000;

/** One schema step. Steps run in version order, each in its own transaction, and are recorded. */
export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
}

/** Steps of `all` newer than `applied`, after checking the list is strictly ordered. */
export function pendingMigrations(all: readonly Migration[], applied: number): Migration[] {
  all.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });
  if (applied > all.length) {
    throw new ConfigError(`database schema version ${applied} is newer than this build (${all.length}); refusing to run an old binary`);
  }
  return all.slice(applied);
}

/** The key `lastMsgSeqs` uses, also used for per-batch maps. */
export function channelKey(channelId: string, channelType: number): string {
  return `${channelId}:${channelType}`;
}

// ---- validation: the store is the last line of defence; callers validate at the edge too ----

function bad(message: string): never {
  throw new InvalidArgumentError(message);
}

function isUint(v: unknown, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

/**
 * Longest channel id, client_msg_no and account key the store keeps, in UTF-8 bytes (uids are
 * shorter, see checkUid): two such keys in one index entry stay under PostgreSQL's btree limit
 * (~2.7 KB), which would otherwise fail the write.
 */
export const MAX_KEY_BYTES = 1024;

/** Text both backends keep alike: PostgreSQL text cannot hold NUL; `maxBytes` bounds indexed keys. */
function checkText(value: string, what: string, maxBytes?: number): void {
  if (value.includes("\u0000")) bad(`${what} must not contain NUL characters`);
  if (maxBytes !== undefined && Buffer.byteLength(value) > maxBytes) bad(`${what} is longer than ${maxBytes} bytes`);
}

export function checkChannel(channelId: unknown, channelType: unknown): void {
  if (typeof channelId !== "string" || channelId.length === 0) bad("channelId must be a non-empty string");
  checkText(channelId, "channelId", MAX_KEY_BYTES);
  if (!isUint(channelType, 255) || channelType === 0) bad(`channelType must be an integer 1..255, got ${String(channelType)}`);
  if (channelType === ChannelType.Person) {
    // Canonical form only: a caller passing the peer's uid would split one chat into two channels.
    const parts = channelId.split(PERSON_SEPARATOR);
    if (parts.length !== 2 || parts[0] === "" || parts[1] === "" || parts[0] > parts[1]) {
      bad(`person channel id must be canonical "a${PERSON_SEPARATOR}b" (a <= b), got "${channelId}"`);
    }
  }
}

/** CIM user names: non-empty, at most 64 characters, no control characters. */
export function checkUserName(name: unknown): asserts name is string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (typeof name !== "string" || name.length === 0 || name.length > 64 || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new InvalidArgumentError("userName must be 1-64 characters without control characters");
  }
}

/** An accounts row as both backends read it (PostgreSQL bigints arrive as strings). */
export interface AccountRow {
  user_id: string;
  user_name: string;
  created_at: number | string;
  route_node: string | null;
  routed_at: number | string | null;
}

export function accountFromRow(r: AccountRow): Account {
  return {
    userId: r.user_id,
    userName: r.user_name,
    createdAt: Number(r.created_at),
    route: r.route_node === null ? null : { nodeId: r.route_node, at: Number(r.routed_at) },
  };
}

/** A saved CIM route: an account id and the node id (or null to clear). */
export function checkAccountRoute(userId: unknown, nodeId: unknown): void {
  if (typeof userId !== "string" || userId.length === 0) bad("userId must be a non-empty string");
  checkText(userId, "userId", MAX_KEY_BYTES);
  if (nodeId === null) return;
  if (typeof nodeId !== "string" || nodeId.length === 0) bad("nodeId must be a non-empty string or null");
  checkText(nodeId, "nodeId", MAX_KEY_BYTES);
}

/** The edge's uid rule (util/validate.ts), system uid allowed: it is stored as a sender. */
export function checkUid(uid: unknown, what = "uid"): void {
  assertUidShape(uid, what);
}

export function checkUint(value: unknown, what: string, max = Number.MAX_SAFE_INTEGER): void {
  if (!isUint(value, max)) bad(`${what} must be an integer 0..${max}, got ${String(value)}`);
}

export function checkAppendInputs(inputs: AppendInput[]): void {
  if (!Array.isArray(inputs)) bad("append takes an array of inputs");
  inputs.forEach(checkAppendInput);
}

/** One input of append(); callers batching inputs check each first so one bad input fails alone. */
export function checkAppendInput(m: AppendInput, index = 0): void {
  const at = `append input ${index}`;
  if (m === null || typeof m !== "object") bad(`${at}: not an object`);
  checkChannel(m.channelId, m.channelType);
  checkUid(m.fromUid, `${at}: fromUid`);
  if (typeof m.clientMsgNo !== "string") bad(`${at}: clientMsgNo must be a string`);
  checkText(m.clientMsgNo, `${at}: clientMsgNo`, MAX_KEY_BYTES);
  if (typeof m.topic !== "string") bad(`${at}: topic must be a string`);
  checkText(m.topic, `${at}: topic`);
  if (!(m.payload instanceof Uint8Array)) bad(`${at}: payload must be a Uint8Array`);
  const h = m.header;
  if (
    h === null ||
    typeof h !== "object" ||
    typeof h.noPersist !== "boolean" ||
    typeof h.redDot !== "boolean" ||
    typeof h.syncOnce !== "boolean"
  ) {
    bad(`${at}: header must have boolean noPersist, redDot and syncOnce`);
  }
  checkUint(m.setting, `${at}: setting`, 255);
  checkUint(m.expire, `${at}: expire`, 0xffffffff);
  checkUint(m.timestamp, `${at}: timestamp`);
}

export function checkToken(r: TokenRecord): void {
  checkUid(r.uid);
  checkUint(r.deviceFlag, "deviceFlag", 255);
  if (typeof r.token !== "string") bad("token must be a string");
  checkText(r.token, "token");
  checkUint(r.deviceLevel, "deviceLevel", 1);
}

export function checkSeqs(seqs: unknown): asserts seqs is number[] {
  if (!Array.isArray(seqs)) bad("seqs must be an array");
  if (seqs.length > MAX_RANGE_LIMIT) bad(`at most ${MAX_RANGE_LIMIT} seqs per call`);
  for (const s of seqs) checkUint(s, "seq");
}

export function checkSyncQuery(q: ConversationSyncQuery): void {
  checkUid(q.uid);
  checkUint(q.version, "version");
  checkUint(q.msgCount, "msgCount", MAX_RECENTS);
  if (q.limit !== undefined) checkUint(q.limit, "limit");
}

// ---- range reads ----

/** An inclusive seq window read in one direction; fetch limit + 1 rows to learn `more`. */
export interface RangePlan {
  minSeq: number;
  maxSeq: number;
  descending: boolean;
  limit: number;
}

/**
 * WuKongIM pull_mode (wkdb LoadLastMsgs / LoadPrevRangeMsgs / LoadNextRangeMsgs): both seqs 0 =
 * the latest `limit`; mode 0 = seqs in (end, start], nearest start first, start 0 = the newest;
 * mode 1 = seqs in [start, end), nearest start first. `undefined` when the window is empty.
 */
export function planRange(q: MessageRangeQuery): RangePlan | undefined {
  checkChannel(q.channelId, q.channelType);
  checkUint(q.startSeq, "startSeq");
  checkUint(q.endSeq, "endSeq");
  if (!isUint(q.limit, MAX_RANGE_LIMIT) || q.limit === 0) bad(`limit must be an integer 1..${MAX_RANGE_LIMIT}, got ${String(q.limit)}`);
  if (q.pullMode !== 0 && q.pullMode !== 1) bad(`pullMode must be 0 or 1, got ${String(q.pullMode)}`);
  const top = Number.MAX_SAFE_INTEGER;
  let plan: RangePlan;
  if (q.startSeq === 0 && q.endSeq === 0) plan = { minSeq: 1, maxSeq: top, descending: true, limit: q.limit };
  else if (q.pullMode === 0) {
    plan = { minSeq: q.endSeq + 1, maxSeq: q.startSeq === 0 ? top : q.startSeq, descending: true, limit: q.limit };
  } else plan = { minSeq: Math.max(1, q.startSeq), maxSeq: q.endSeq === 0 ? top : q.endSeq - 1, descending: false, limit: q.limit };
  return plan.minSeq > plan.maxSeq ? undefined : plan;
}

/** Rows as read for a plan (limit + 1 at most, in the plan's direction) to the ascending result. */
export function finishRange(rows: StoredMessage[], plan: RangePlan): { messages: StoredMessage[]; more: boolean } {
  const more = rows.length > plan.limit;
  const messages = more ? rows.slice(0, plan.limit) : rows;
  if (plan.descending) messages.reverse();
  return { messages, more };
}

// ---- conversations ----

/** A conversation as both backends read it, before recents. */
export interface ConversationRow {
  channelId: string;
  channelType: number;
  readedToSeq: number;
  version: number;
  lastSeq: number;
  lastClientMsgNo: string;
  lastTimestamp: number;
}

/**
 * The filters of a sync applied to rows already read visible, changed after `version` and sorted
 * newest first; also the seq after which each survivor's recents start (the client holds the rest).
 * Kept in code, shared by both backends: one user's conversation list is small.
 */
export function selectConversations(rows: ConversationRow[], q: ConversationSyncQuery): Array<{ row: ConversationRow; after: number }> {
  const out: Array<{ row: ConversationRow; after: number }> = [];
  const limit = q.limit && q.limit > 0 ? q.limit : Number.POSITIVE_INFINITY;
  const excluded = new Set(q.excludeChannelTypes ?? []);
  for (const row of rows) {
    if (out.length >= limit) break;
    if (excluded.has(row.channelType)) continue;
    if (q.onlyUnread && row.lastSeq <= row.readedToSeq) continue;
    const known = q.lastMsgSeqs?.get(channelKey(row.channelId, row.channelType)) ?? 0;
    if (known > 0 && row.lastSeq <= known) continue;
    out.push({ row, after: known });
  }
  return out;
}

export function toConversation(uid: string, row: ConversationRow, recents: StoredMessage[]): Conversation {
  return {
    uid,
    channelId: row.channelId,
    channelType: row.channelType,
    unread: row.lastSeq - row.readedToSeq,
    timestamp: row.lastTimestamp,
    lastMsgSeq: row.lastSeq,
    lastClientMsgNo: row.lastClientMsgNo,
    readedToMsgSeq: row.readedToSeq,
    version: row.version,
    recents,
  };
}

/** A messages row as both backends read it (Postgres returns bigint columns as strings). */
export interface MessageRow {
  message_id: number | string;
  message_seq: number | string;
  client_msg_no: string;
  from_uid: string;
  channel_id: string;
  channel_type: number;
  setting: number;
  flags: number;
  expire: number | string;
  topic: string;
  timestamp: number | string;
  payload: Uint8Array;
}

export function messageFromRow(r: MessageRow): StoredMessage {
  return {
    messageId: Number(r.message_id),
    messageSeq: Number(r.message_seq),
    clientMsgNo: r.client_msg_no,
    fromUid: r.from_uid,
    channelId: r.channel_id,
    channelType: r.channel_type,
    header: messageHeaderFromBits(r.flags),
    setting: r.setting,
    expire: Number(r.expire),
    topic: r.topic,
    timestamp: Number(r.timestamp),
    payload: r.payload,
  };
}
