/**
 * One append batch on PostgreSQL, inside the caller's transaction, in three statements whatever
 * the batch size: look up retries already committed, lock and advance the channels' counters,
 * then insert the messages and move read positions together. A batch that loses a race to a
 * concurrent one (a key committed after the lookup) throws RaceLost; the caller rolls back and
 * runs it again, so no seq is ever burnt.
 */
import type postgres from "postgres";
import { ChannelType, personPeer } from "./channel-id.js";
import type { AppendInput, AppendResult } from "./message-store.js";
import type { PostgresTables } from "./postgres-schema.js";
import { asBuffer, channelKey, packHeader } from "./store-common.js";

/** A concurrent append committed one of this batch's keys after the batch looked them up. */
export class RaceLost extends Error {}

/** Type oid of bytea: an array of Buffers must be sent as bytea[] explicitly. */
const BYTEA = 17;

const sendKey = (fromUid: string, clientMsgNo: string) => `${fromUid}\u0000${clientMsgNo}`;

export async function appendBatch(tx: postgres.TransactionSql, T: PostgresTables, inputs: AppendInput[]): Promise<AppendResult[]> {
  const results: AppendResult[] = new Array(inputs.length);
  // 1. Retries of sends committed before this transaction.
  const stored = new Map<string, AppendResult>();
  const keyed = inputs.filter((m) => m.clientMsgNo !== "");
  if (keyed.length > 0) {
    const rows = await tx`
      SELECT from_uid, client_msg_no, message_id, message_seq, timestamp FROM ${T.messages}
      WHERE (from_uid, client_msg_no) IN (
        SELECT * FROM unnest(${keyed.map((m) => m.fromUid)}::text[], ${keyed.map((m) => m.clientMsgNo)}::text[]))`;
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
    const tops = await tx`
      INSERT INTO ${T.channels} AS c (channel_id, channel_type, last_seq)
      SELECT * FROM unnest(${chans.map((c) => c.channelId)}::text[], ${chans.map((c) => c.channelType)}::smallint[],
        ${chans.map((c) => c.n)}::bigint[])
      ON CONFLICT (channel_id, channel_type) DO UPDATE SET last_seq = c.last_seq + excluded.last_seq
      RETURNING channel_id, channel_type, last_seq`;
    for (const r of tops) {
      const c = counts.get(channelKey(r.channel_id, r.channel_type))!;
      c.next = Number(r.last_seq) - c.n + 1;
    }
    // 4. Messages (ids drawn from the sequence in batch order) and read positions, one statement.
    const seqs = fresh.map((i) => counts.get(channelKey(inputs[i].channelId, inputs[i].channelType))!.next++);
    const reads = readPositions(inputs, fresh, seqs);
    const msgs = fresh.map((i) => inputs[i]);
    const rows = await tx`
      WITH person AS (
        INSERT INTO ${T.conversations} AS cv (uid, channel_id, channel_type, readed_to_seq)
        SELECT * FROM unnest(${reads.person.uid}::text[], ${reads.person.channelId}::text[],
          ${reads.person.channelType}::smallint[], ${reads.person.seq}::bigint[])
        ON CONFLICT (uid, channel_id, channel_type) DO UPDATE SET readed_to_seq = excluded.readed_to_seq
        WHERE excluded.readed_to_seq > cv.readed_to_seq
      ), other AS (
        UPDATE ${T.conversations} AS cv SET readed_to_seq = v.seq
        FROM unnest(${reads.other.uid}::text[], ${reads.other.channelId}::text[], ${reads.other.channelType}::smallint[],
          ${reads.other.seq}::bigint[]) AS v (uid, channel_id, channel_type, seq)
        WHERE cv.uid = v.uid AND cv.channel_id = v.channel_id AND cv.channel_type = v.channel_type AND cv.readed_to_seq < v.seq
      )
      INSERT INTO ${T.messages}
        (channel_id, channel_type, message_seq, client_msg_no, from_uid, setting, flags, expire, topic, timestamp, payload)
      SELECT * FROM unnest(${msgs.map((m) => m.channelId)}::text[], ${msgs.map((m) => m.channelType)}::smallint[],
        ${seqs}::bigint[], ${msgs.map((m) => m.clientMsgNo)}::text[], ${msgs.map((m) => m.fromUid)}::text[],
        ${msgs.map((m) => m.setting)}::smallint[], ${msgs.map((m) => packHeader(m.header))}::smallint[],
        ${msgs.map((m) => m.expire)}::bigint[], ${msgs.map((m) => m.topic)}::text[], ${msgs.map((m) => m.timestamp)}::bigint[],
        ${tx.array(
          msgs.map((m) => asBuffer(m.payload)),
          BYTEA,
        )})
      ON CONFLICT (from_uid, client_msg_no) WHERE client_msg_no <> '' DO NOTHING
      RETURNING message_id, channel_id, channel_type, message_seq`;
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
