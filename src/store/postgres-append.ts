/**
 * The multi-statement transactions on PostgreSQL, each inside the caller's transaction.
 *
 * An append batch takes three statements whatever the batch size: look up retries already
 * committed, lock and advance the channels' counters, then insert the messages and move read
 * positions together. A batch that loses a race to a concurrent one (a key committed after the
 * lookup) throws RaceLost; the caller rolls back and runs it again, so no seq is ever burnt.
 *
 * A conversation sync reads the conversations, then their recent messages, in one snapshot.
 */
import type pg from "pg";
import { asBuffer } from "../protocol/bytes.js";
import { messageHeaderBits } from "../protocol/header.js";
import { ChannelType, personPeer } from "./channel-id.js";
import type { AppendInput, AppendResult, Conversation, ConversationSyncQuery, StoredMessage } from "./message-store.js";
import type { PostgresTables } from "./postgres-schema.js";
import { type ConversationRow, type MessageRow, channelKey, messageFromRow, selectConversations, toConversation } from "./store-common.js";

/** A concurrent append committed one of this batch's keys after the batch looked them up. */
export class RaceLost extends Error {}

/** Attempts of a write that lost a race (deadlock, concurrent duplicate) before giving up. */
export const MAX_ATTEMPTS = 5;
const RETRYABLE_SQLSTATES = new Set(["40P01", "40001"]); // deadlock, serialization failure

/** A write that lost a race to a concurrent one: rolled back whole, safe to run again. */
export function isRaceLost(err: unknown): boolean {
  return err instanceof RaceLost || RETRYABLE_SQLSTATES.has((err as { code?: unknown } | null)?.code as string);
}

const sendKey = (fromUid: string, clientMsgNo: string) => `${fromUid}\u0000${clientMsgNo}`;

export async function appendBatch(tx: pg.ClientBase, T: PostgresTables, inputs: AppendInput[]): Promise<AppendResult[]> {
  const results: AppendResult[] = new Array(inputs.length);
  // 1. Retries of sends committed before this transaction.
  const stored = new Map<string, AppendResult>();
  const keyed = inputs.filter((m) => m.clientMsgNo !== "");
  if (keyed.length > 0) {
    const { rows } = await tx.query(
      `SELECT from_uid, client_msg_no, message_id, message_seq, timestamp FROM ${T.messages}
      WHERE (from_uid, client_msg_no) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [keyed.map((m) => m.fromUid), keyed.map((m) => m.clientMsgNo)],
    );
    for (const r of rows) {
      const ids = { messageId: Number(r.message_id), messageSeq: Number(r.message_seq), timestamp: Number(r.timestamp) };
      stored.set(sendKey(r.from_uid, r.client_msg_no), { ...ids, duplicate: true });
    }
  }
  // 2. The new messages (first of their key in the batch, not stored), counted per channel.
  const fresh: number[] = [];
  const firstOf = new Map<string, number>();
  const later: Array<[number, number]> = [];
  const counts = new Map<string, { channelId: string; channelType: number; n: number; next: number }>();
  inputs.forEach((m, i) => {
    if (m.clientMsgNo !== "") {
      const key = sendKey(m.fromUid, m.clientMsgNo);
      const prior = stored.get(key);
      const first = firstOf.get(key);
      if (prior) results[i] = prior;
      else if (first !== undefined) later.push([i, first]);
      else firstOf.set(key, i);
      if (prior || first !== undefined) return;
    }
    fresh.push(i);
    const ck = channelKey(m.channelId, m.channelType);
    const c = counts.get(ck) ?? { channelId: m.channelId, channelType: m.channelType, n: 0, next: 0 };
    c.n++;
    counts.set(ck, c);
  });
  if (fresh.length > 0) {
    // 3. Lock each channel and reserve its seqs. Always in the same order: two batches taking
    // A then B and B then A would deadlock.
    const chans = [...counts.values()].sort((a, b) =>
      a.channelId === b.channelId ? a.channelType - b.channelType : a.channelId < b.channelId ? -1 : 1,
    );
    const { rows: tops } = await tx.query(
      `INSERT INTO ${T.channels} AS c (channel_id, channel_type, last_seq)
      SELECT * FROM unnest($1::text[], $2::smallint[], $3::bigint[])
      ON CONFLICT (channel_id, channel_type) DO UPDATE SET last_seq = c.last_seq + excluded.last_seq
      RETURNING channel_id, channel_type, last_seq`,
      [chans.map((c) => c.channelId), chans.map((c) => c.channelType), chans.map((c) => c.n)],
    );
    for (const r of tops) {
      const c = counts.get(channelKey(r.channel_id, r.channel_type))!;
      c.next = Number(r.last_seq) - c.n + 1;
    }
    // 4. Messages (ids drawn from the sequence in batch order) and read positions, one statement.
    const seqs = fresh.map((i) => counts.get(channelKey(inputs[i].channelId, inputs[i].channelType))!.next++);
    const reads = readPositions(inputs, fresh, seqs);
    const msgs = fresh.map((i) => inputs[i]);
    // Columns bind as arrays (array literals); the payload Buffers need the explicit bytea[] cast.
    const { rows } = await tx.query(
      `WITH person AS (
        INSERT INTO ${T.conversations} AS cv (uid, channel_id, channel_type, readed_to_seq)
        SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::bigint[])
        ON CONFLICT (uid, channel_id, channel_type) DO UPDATE SET readed_to_seq = excluded.readed_to_seq
        WHERE excluded.readed_to_seq > cv.readed_to_seq
      ), other AS (
        UPDATE ${T.conversations} AS cv SET readed_to_seq = v.seq
        FROM unnest($5::text[], $6::text[], $7::smallint[], $8::bigint[]) AS v (uid, channel_id, channel_type, seq)
        WHERE cv.uid = v.uid AND cv.channel_id = v.channel_id AND cv.channel_type = v.channel_type AND cv.readed_to_seq < v.seq
      )
      INSERT INTO ${T.messages}
        (channel_id, channel_type, message_seq, client_msg_no, from_uid, setting, flags, expire, topic, timestamp, payload)
      SELECT * FROM unnest($9::text[], $10::smallint[], $11::bigint[], $12::text[], $13::text[], $14::smallint[], $15::smallint[],
        $16::bigint[], $17::text[], $18::bigint[], $19::bytea[])
      ON CONFLICT (from_uid, client_msg_no) WHERE client_msg_no <> '' DO NOTHING
      RETURNING message_id, channel_id, channel_type, message_seq`,
      [
        reads.person.uid,
        reads.person.channelId,
        reads.person.channelType,
        reads.person.seq,
        reads.other.uid,
        reads.other.channelId,
        reads.other.channelType,
        reads.other.seq,
        msgs.map((m) => m.channelId),
        msgs.map((m) => m.channelType),
        seqs,
        msgs.map((m) => m.clientMsgNo),
        msgs.map((m) => m.fromUid),
        msgs.map((m) => m.setting),
        msgs.map((m) => messageHeaderBits(m.header)),
        msgs.map((m) => m.expire),
        msgs.map((m) => m.topic),
        msgs.map((m) => m.timestamp),
        msgs.map((m) => asBuffer(m.payload)),
      ],
    );
    if (rows.length !== fresh.length) throw new RaceLost("a concurrent append stored one of these sends first");
    const ids = new Map(rows.map((r) => [`${channelKey(r.channel_id, r.channel_type)}:${r.message_seq}`, Number(r.message_id)]));
    fresh.forEach((i, k) => {
      const m = inputs[i];
      const messageId = ids.get(`${channelKey(m.channelId, m.channelType)}:${seqs[k]}`)!;
      results[i] = { messageId, messageSeq: seqs[k], timestamp: m.timestamp, duplicate: false };
    });
  }
  for (const [i, first] of later) results[i] = { ...results[first], duplicate: true };
  return results;
}

/**
 * Read positions a batch moves: each sender's highest new seq per channel. Person channels
 * upsert both users' rows (the peer at seq 0, which never lowers a position); other channels
 * only move rows that exist (subscribers). Deduplicated: one statement may touch a row once.
 */
function readPositions(inputs: AppendInput[], fresh: number[], seqs: number[]) {
  const person = new Map<string, { uid: string; channelId: string; channelType: number; seq: number }>();
  const other = new Map<string, { uid: string; channelId: string; channelType: number; seq: number }>();
  fresh.forEach((i, k) => {
    const { fromUid: uid, channelId, channelType } = inputs[i];
    const target = channelType === ChannelType.Person ? person : other;
    target.set(`${uid}\u0000${channelKey(channelId, channelType)}`, { uid, channelId, channelType, seq: seqs[k] });
  });
  for (const r of [...person.values()]) {
    const peer = personPeer(r.channelId, r.uid);
    const key = `${peer}\u0000${channelKey(r.channelId, r.channelType)}`;
    if (!person.has(key)) person.set(key, { ...r, uid: peer, seq: 0 });
  }
  const columns = (rows: Iterable<{ uid: string; channelId: string; channelType: number; seq: number }>) => {
    const list = [...rows];
    return {
      uid: list.map((r) => r.uid),
      channelId: list.map((r) => r.channelId),
      channelType: list.map((r) => r.channelType),
      seq: list.map((r) => r.seq),
    };
  };
  return { person: columns(person.values()), other: columns(other.values()) };
}

/** A conversation sync (see MessageStore.syncConversations); run it in a repeatable-read transaction. */
export async function syncConversations(tx: pg.ClientBase, T: PostgresTables, query: ConversationSyncQuery): Promise<Conversation[]> {
  const found = await tx.query(
    `SELECT cv.channel_id, cv.channel_type, cv.readed_to_seq, greatest(cv.version, coalesce(m.message_id, 0)) AS version,
      ch.last_seq, coalesce(m.client_msg_no, '') AS last_client_msg_no, coalesce(m.timestamp, 0) AS last_timestamp
    FROM ${T.conversations} cv
    JOIN ${T.channels} ch ON ch.channel_id = cv.channel_id AND ch.channel_type = cv.channel_type
    LEFT JOIN ${T.messages} m ON m.channel_id = ch.channel_id AND m.channel_type = ch.channel_type AND m.message_seq = ch.last_seq
    WHERE cv.uid = $1 AND ch.last_seq > cv.deleted_to_seq AND greatest(cv.version, coalesce(m.message_id, 0)) > $2::bigint
    ORDER BY m.message_id DESC NULLS LAST`,
    [query.uid, query.version],
  );
  // bigint columns arrive as strings.
  const rows: ConversationRow[] = found.rows.map((r) => ({
    channelId: r.channel_id,
    channelType: r.channel_type,
    readedToSeq: Number(r.readed_to_seq),
    version: Number(r.version),
    lastSeq: Number(r.last_seq),
    lastClientMsgNo: r.last_client_msg_no,
    lastTimestamp: Number(r.last_timestamp),
  }));
  const picked = selectConversations(rows, query);
  const recents = new Map<string, StoredMessage[]>();
  if (query.msgCount > 0 && picked.length > 0) {
    const messages = await tx.query<MessageRow>(
      `SELECT r.* FROM unnest($1::text[], $2::smallint[], $3::bigint[]) AS k (channel_id, channel_type, after)
      CROSS JOIN LATERAL (
        SELECT * FROM ${T.messages} m
        WHERE m.channel_id = k.channel_id AND m.channel_type = k.channel_type AND m.message_seq > k.after
        ORDER BY m.message_seq DESC LIMIT $4::bigint
      ) r
      ORDER BY r.message_id`,
      [picked.map((p) => p.row.channelId), picked.map((p) => p.row.channelType), picked.map((p) => p.after), query.msgCount],
    );
    for (const m of messages.rows.map(messageFromRow)) {
      const key = channelKey(m.channelId, m.channelType);
      recents.set(key, [...(recents.get(key) ?? []), m]);
    }
  }
  return picked.map(({ row }) => toConversation(query.uid, row, recents.get(channelKey(row.channelId, row.channelType)) ?? []));
}
