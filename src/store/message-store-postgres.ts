/**
 * The clustered MessageStore: PostgreSQL through porsager/postgres, every table in one schema.
 * Several processes append at once: a channel's row lock (taken by the counter upsert) serializes
 * appends to that channel, the unique index on (from_uid, client_msg_no) settles racing retries,
 * and a batch that loses a race or a deadlock is rolled back whole and retried, so seqs stay
 * gap-free. An append batch costs five round trips whatever its size (postgres-append.ts).
 *
 * Known limit: message ids come from a sequence, so two transactions can commit out of id order.
 * A conversation sync running exactly then may report a version past a change that commits a
 * moment later; that conversation shows up again with its next message.
 */
import postgres from "postgres";
import { UnavailableError } from "../util/errors.js";
import { type Logger, silentLogger } from "../util/logger.js";
import type {
  Account,
  AppendInput,
  AppendResult,
  ChannelInfo,
  ChannelUpdate,
  Conversation,
  ConversationSyncQuery,
  MessageRange,
  MessageRangeQuery,
  MessageStore,
  StoredMessage,
  TokenRecord,
} from "./message-store.js";
import { RaceLost, appendBatch } from "./postgres-append.js";
import { type PostgresTables, checkSchemaName, postgresMigrations, tableRefs } from "./postgres-schema.js";
import {
  type AccountRow,
  type ConversationRow,
  type MessageRow,
  accountFromRow,
  channelKey,
  checkAccountRoute,
  checkAppendInputs,
  checkChannel,
  checkSeqs,
  checkSyncQuery,
  checkToken,
  checkUid,
  checkUint,
  checkUserName,
  finishRange,
  messageFromRow,
  pendingMigrations,
  planRange,
  selectConversations,
  toConversation,
} from "./store-common.js";

export interface PostgresMessageStoreOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Schema holding every table; created if missing. Default "switchboard". */
  schema?: string;
  /** Pool size. Default 10. */
  maxConnections?: number;
  logger?: Logger;
}

export const DEFAULT_POSTGRES_SCHEMA = "switchboard";
const DEFAULT_MAX_CONNECTIONS = 10;
/** The accounts columns read back, in AccountRow's shape. */
const ACCOUNT_COLUMNS = ["user_id", "user_name", "created_at", "route_node", "routed_at"];
/** Attempts of a write that lost a race (deadlock, concurrent duplicate) before giving up. */
const MAX_ATTEMPTS = 5;

type Sql = postgres.Sql;

const RETRYABLE_SQLSTATES = new Set(["40P01", "40001"]); // deadlock, serialization failure
const CONNECTION_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "57P01",
  "57P03",
  "53300",
]);

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

export class PostgresMessageStore implements MessageStore {
  readonly #sql: Sql;
  readonly #schema: string;
  readonly #t: PostgresTables;
  /** The id sequence, as a regclass literal for nextval(). */
  readonly #ids: string;
  readonly #log: Logger;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing = false;

  constructor(options: PostgresMessageStoreOptions) {
    this.#schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
    checkSchemaName(this.#schema);
    this.#log = (options.logger ?? silentLogger).child({ module: "store.postgres", schema: this.#schema });
    this.#sql = postgres(options.url, {
      max: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      // postgres.js prints notices ("schema already exists, skipping") by default.
      onnotice: (notice) => this.#log.debug({ notice: notice.message }, "postgres notice"),
    });
    this.#t = tableRefs(this.#sql, this.#schema);
    this.#ids = `"${this.#schema}".message_ids`;
  }

  async migrate(): Promise<void> {
    const q = `"${this.#schema}"`;
    await this.#run(() =>
      this.#sql.begin(async (tx) => {
        // Processes starting together migrate one after the other (CREATE SCHEMA IF NOT EXISTS races too).
        await tx`SELECT pg_advisory_xact_lock(hashtext(${`switchboard.migrate.${this.#schema}`}))`;
        await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${q}`);
        await tx.unsafe(
          `CREATE TABLE IF NOT EXISTS ${q}.schema_version (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
        );
        const [row] = await tx.unsafe(`SELECT coalesce(max(version), 0)::int AS v FROM ${q}.schema_version`);
        for (const m of pendingMigrations(postgresMigrations(this.#schema), row.v as number)) {
          for (const statement of m.statements) await tx.unsafe(statement);
          await tx.unsafe(`INSERT INTO ${q}.schema_version (version, name) VALUES ($1, $2)`, [m.version, m.name]);
          this.#log.info({ version: m.version, name: m.name }, "schema migrated");
        }
      }),
    );
  }

  /** Waits for calls in flight (ending the pool under them lets queued ones reconnect), then closes. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled(this.#inFlight);
    await this.#sql.end({ timeout: 5 });
  }

  async append(inputs: AppendInput[]): Promise<AppendResult[]> {
    checkAppendInputs(inputs);
    if (inputs.length === 0) return [];
    return this.#run(() => this.#sql.begin((tx) => appendBatch(tx, this.#t, inputs)), true);
  }

  async allocateMessageId(): Promise<number> {
    const [row] = await this.#run(() => this.#sql`SELECT nextval(${this.#ids}::regclass) AS id`);
    return Number(row.id);
  }

  async getMessages(query: MessageRangeQuery): Promise<MessageRange> {
    const plan = planRange(query);
    if (!plan) return { messages: [], more: false };
    const sql = this.#sql;
    const rows = await this.#run(
      () => sql<MessageRow[]>`
        SELECT * FROM ${this.#t.messages}
        WHERE channel_id = ${query.channelId} AND channel_type = ${query.channelType}
          AND message_seq BETWEEN ${plan.minSeq} AND ${plan.maxSeq}
        ORDER BY message_seq ${plan.descending ? sql`DESC` : sql`ASC`} LIMIT ${plan.limit + 1}`,
    );
    return finishRange(rows.map(messageFromRow), plan);
  }

  async getMessagesBySeq(channelId: string, channelType: number, seqs: number[]): Promise<StoredMessage[]> {
    checkChannel(channelId, channelType);
    checkSeqs(seqs);
    if (seqs.length === 0) return [];
    const rows = await this.#run(
      () => this.#sql<MessageRow[]>`
        SELECT * FROM ${this.#t.messages}
        WHERE channel_id = ${channelId} AND channel_type = ${channelType} AND message_seq = ANY(${seqs}::bigint[])
        ORDER BY message_seq`,
    );
    return rows.map(messageFromRow);
  }

  async maxSeq(channelId: string, channelType: number): Promise<number> {
    checkChannel(channelId, channelType);
    const [row] = await this.#run(
      () => this.#sql`SELECT last_seq FROM ${this.#t.channels} WHERE channel_id = ${channelId} AND channel_type = ${channelType}`,
    );
    return row ? Number(row.last_seq) : 0;
  }

  async upsertChannel(u: ChannelUpdate): Promise<void> {
    checkChannel(u.channelId, u.channelType);
    const [ban, disband, sendBan, large] = [u.ban ?? null, u.disband ?? null, u.sendBan ?? null, u.large ?? null];
    await this.#run(
      () => this.#sql`
        INSERT INTO ${this.#t.channels} AS c (channel_id, channel_type, created, ban, disband, send_ban, large)
        VALUES (${u.channelId}, ${u.channelType}, true, coalesce(${ban}::boolean, false), coalesce(${disband}::boolean, false),
          coalesce(${sendBan}::boolean, false), coalesce(${large}::boolean, false))
        ON CONFLICT (channel_id, channel_type) DO UPDATE SET created = true, ban = coalesce(${ban}::boolean, c.ban),
          disband = coalesce(${disband}::boolean, c.disband), send_ban = coalesce(${sendBan}::boolean, c.send_ban),
          large = coalesce(${large}::boolean, c.large)`,
    );
  }

  async getChannel(channelId: string, channelType: number): Promise<ChannelInfo | undefined> {
    checkChannel(channelId, channelType);
    const [r] = await this.#run(
      () => this.#sql`
        SELECT ban, disband, send_ban, large FROM ${this.#t.channels}
        WHERE channel_id = ${channelId} AND channel_type = ${channelType} AND created`,
    );
    return r && { channelId, channelType, ban: r.ban, disband: r.disband, sendBan: r.send_ban, large: r.large };
  }

  async deleteChannel(channelId: string, channelType: number): Promise<void> {
    checkChannel(channelId, channelType);
    const T = this.#t;
    // Keeps last_seq: messages stay, and a re-created channel continues its seqs.
    await this.#run(
      () => this.#sql`
        WITH ch AS (
          UPDATE ${T.channels} SET created = false, ban = false, disband = false, send_ban = false, large = false
          WHERE channel_id = ${channelId} AND channel_type = ${channelType}
        ), subs AS (
          DELETE FROM ${T.subscribers} WHERE channel_id = ${channelId} AND channel_type = ${channelType}
        )
        DELETE FROM ${T.conversations} WHERE channel_id = ${channelId} AND channel_type = ${channelType}`,
    );
  }

  async addSubscribers(channelId: string, channelType: number, uids: string[], reset = false): Promise<void> {
    checkChannel(channelId, channelType);
    for (const uid of uids) checkUid(uid, "subscriber uid");
    const T = this.#t;
    // Sorted: concurrent calls insert shared rows in the same order instead of deadlocking.
    const list = [...new Set(uids)].sort();
    // A member joining late starts with the history read: only what comes after counts as unread.
    // Members dropped by a reset lose their conversation (see removeSubscribers).
    await this.#run(
      () => this.#sql`
        WITH gone AS (
          DELETE FROM ${T.subscribers}
          WHERE ${reset} AND channel_id = ${channelId} AND channel_type = ${channelType} AND uid <> ALL(${list}::text[])
          RETURNING uid
        ), gone_conversations AS (
          DELETE FROM ${T.conversations} cv USING gone
          WHERE cv.uid = gone.uid AND cv.channel_id = ${channelId} AND cv.channel_type = ${channelType}
        ), subs AS (
          INSERT INTO ${T.subscribers} (channel_id, channel_type, uid)
          SELECT ${channelId}, ${channelType}, u FROM unnest(${list}::text[]) AS u ON CONFLICT DO NOTHING
        )
        INSERT INTO ${T.conversations} (uid, channel_id, channel_type, readed_to_seq, version)
        SELECT u, ${channelId}, ${channelType},
          coalesce((SELECT last_seq FROM ${T.channels} WHERE channel_id = ${channelId} AND channel_type = ${channelType}), 0),
          (SELECT nextval(${this.#ids}::regclass))
        FROM unnest(${list}::text[]) AS u ON CONFLICT DO NOTHING`,
      true,
    );
  }

  async removeSubscribers(channelId: string, channelType: number, uids: string[]): Promise<void> {
    checkChannel(channelId, channelType);
    const T = this.#t;
    // A former member's read position would count every later message as unread: drop it.
    await this.#run(
      () => this.#sql`
        WITH subs AS (
          DELETE FROM ${T.subscribers} WHERE channel_id = ${channelId} AND channel_type = ${channelType} AND uid = ANY(${uids}::text[])
        )
        DELETE FROM ${T.conversations} WHERE channel_id = ${channelId} AND channel_type = ${channelType} AND uid = ANY(${uids}::text[])`,
    );
  }

  async getSubscribers(channelId: string, channelType: number): Promise<string[]> {
    checkChannel(channelId, channelType);
    const rows = await this.#run(
      // Binary order, as SQLite sorts, whatever the database collation.
      () => this.#sql`
        SELECT uid FROM ${this.#t.subscribers} WHERE channel_id = ${channelId} AND channel_type = ${channelType}
        ORDER BY uid COLLATE "C"`,
    );
    return rows.map((r) => r.uid as string);
  }

  async isSubscriber(channelId: string, channelType: number, uid: string): Promise<boolean> {
    checkChannel(channelId, channelType);
    const rows = await this.#run(
      () => this.#sql`
        SELECT 1 FROM ${this.#t.subscribers} WHERE channel_id = ${channelId} AND channel_type = ${channelType} AND uid = ${uid}`,
    );
    return rows.length > 0;
  }

  async syncConversations(query: ConversationSyncQuery): Promise<Conversation[]> {
    checkSyncQuery(query);
    const T = this.#t;
    // One snapshot: recents are consistent with the conversation rows.
    return this.#run(() =>
      this.#sql.begin("isolation level repeatable read read only", async (tx) => {
        const found = await tx`
          SELECT cv.channel_id, cv.channel_type, cv.readed_to_seq, greatest(cv.version, coalesce(m.message_id, 0)) AS version,
            ch.last_seq, coalesce(m.client_msg_no, '') AS last_client_msg_no, coalesce(m.timestamp, 0) AS last_timestamp
          FROM ${T.conversations} cv
          JOIN ${T.channels} ch ON ch.channel_id = cv.channel_id AND ch.channel_type = cv.channel_type
          LEFT JOIN ${T.messages} m ON m.channel_id = ch.channel_id AND m.channel_type = ch.channel_type AND m.message_seq = ch.last_seq
          WHERE cv.uid = ${query.uid} AND ch.last_seq > cv.deleted_to_seq
            AND greatest(cv.version, coalesce(m.message_id, 0)) > ${query.version}
          ORDER BY m.message_id DESC NULLS LAST`;
        const rows: ConversationRow[] = found.map((r) => ({
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
          const messages = await tx<MessageRow[]>`
            SELECT r.* FROM unnest(${picked.map((p) => p.row.channelId)}::text[], ${picked.map((p) => p.row.channelType)}::smallint[],
              ${picked.map((p) => p.after)}::bigint[]) AS k (channel_id, channel_type, after)
            CROSS JOIN LATERAL (
              SELECT * FROM ${T.messages} m
              WHERE m.channel_id = k.channel_id AND m.channel_type = k.channel_type AND m.message_seq > k.after
              ORDER BY m.message_seq DESC LIMIT ${query.msgCount}
            ) r
            ORDER BY r.message_id`;
          for (const m of messages.map(messageFromRow)) {
            const key = channelKey(m.channelId, m.channelType);
            recents.set(key, [...(recents.get(key) ?? []), m]);
          }
        }
        return picked.map(({ row }) => toConversation(query.uid, row, recents.get(channelKey(row.channelId, row.channelType)) ?? []));
      }),
    );
  }

  async clearUnread(uid: string, channelId: string, channelType: number, messageSeq = 0): Promise<void> {
    checkUid(uid);
    checkChannel(channelId, channelType);
    checkUint(messageSeq, "messageSeq");
    const seq = messageSeq === 0 ? Number.MAX_SAFE_INTEGER : messageSeq;
    await this.#updateConversation(
      uid,
      channelId,
      channelType,
      (last) => this.#sql`greatest(readed_to_seq, least(${seq}::bigint, ${last}))`,
    );
  }

  async setUnread(uid: string, channelId: string, channelType: number, unread: number): Promise<void> {
    checkUid(uid);
    checkChannel(channelId, channelType);
    checkUint(unread, "unread");
    await this.#updateConversation(uid, channelId, channelType, (last) => this.#sql`greatest(0, ${last} - ${unread}::bigint)`);
  }

  async deleteConversation(uid: string, channelId: string, channelType: number): Promise<void> {
    checkUid(uid);
    checkChannel(channelId, channelType);
    await this.#updateConversation(uid, channelId, channelType, (last) => last, true);
  }

  async setToken(record: TokenRecord): Promise<void> {
    checkToken(record);
    await this.#run(
      () => this.#sql`
        INSERT INTO ${this.#t.tokens} (uid, device_flag, token, device_level)
        VALUES (${record.uid}, ${record.deviceFlag}, ${record.token}, ${record.deviceLevel})
        ON CONFLICT (uid, device_flag) DO UPDATE SET token = excluded.token, device_level = excluded.device_level`,
    );
  }

  async getToken(uid: string, deviceFlag: number): Promise<TokenRecord | undefined> {
    checkUid(uid);
    checkUint(deviceFlag, "deviceFlag", 255);
    const [r] = await this.#run(
      () => this.#sql`SELECT token, device_level FROM ${this.#t.tokens} WHERE uid = ${uid} AND device_flag = ${deviceFlag}`,
    );
    return r && { uid, deviceFlag, token: r.token, deviceLevel: r.device_level };
  }

  async registerAccount(userName: string): Promise<Account> {
    checkUserName(userName);
    const T = this.#t;
    const cols = this.#sql(ACCOUNT_COLUMNS);
    const [row] = await this.#run(
      () => this.#sql`
        WITH fresh AS (
          INSERT INTO ${T.accounts} (user_id, user_name, created_at)
          VALUES (nextval(${this.#ids}::regclass)::text, ${userName}, ${Date.now()})
          ON CONFLICT (user_name) DO NOTHING
          RETURNING ${cols})
        SELECT * FROM fresh UNION ALL SELECT ${cols} FROM ${T.accounts} WHERE user_name = ${userName}
        LIMIT 1`,
    );
    // A concurrent first registration of the same name commits between the two halves: read it.
    const r = row ?? (await this.#run(() => this.#sql`SELECT ${cols} FROM ${T.accounts} WHERE user_name = ${userName}`))[0];
    return accountFromRow(r as unknown as AccountRow);
  }

  async getAccounts(userIds: string[]): Promise<Account[]> {
    if (userIds.length === 0) return [];
    const cols = this.#sql(ACCOUNT_COLUMNS);
    const rows = await this.#run(
      () => this.#sql`SELECT ${cols} FROM ${this.#t.accounts} WHERE user_id = ANY(${[...new Set(userIds)]}::text[])`,
    );
    return rows.map((r) => accountFromRow(r as unknown as AccountRow));
  }

  async setAccountRoute(userId: string, nodeId: string | null): Promise<boolean> {
    checkAccountRoute(userId, nodeId);
    const at = nodeId === null ? null : Date.now();
    const rows = await this.#run(
      () => this.#sql`UPDATE ${this.#t.accounts} SET route_node = ${nodeId}, routed_at = ${at} WHERE user_id = ${userId} RETURNING user_id`,
    );
    return rows.length > 0;
  }

  /**
   * Moves a read position to `readTo(lastSeq)` and stamps the row with a fresh id, so other
   * devices' syncs see the change; `hide` also hides the conversation until its next message.
   */
  async #updateConversation(
    uid: string,
    channelId: string,
    channelType: number,
    readTo: (lastSeq: postgres.PendingQuery<postgres.Row[]>) => postgres.PendingQuery<postgres.Row[]>,
    hide = false,
  ): Promise<void> {
    const T = this.#t;
    const last = () =>
      this.#sql`coalesce((SELECT last_seq FROM ${T.channels} WHERE channel_id = ${channelId} AND channel_type = ${channelType}), 0)`;
    await this.#run(
      () => this.#sql`
        UPDATE ${T.conversations} SET readed_to_seq = ${readTo(last())},
          deleted_to_seq = ${hide ? last() : this.#sql`deleted_to_seq`}, version = nextval(${this.#ids}::regclass)
        WHERE uid = ${uid} AND channel_id = ${channelId} AND channel_type = ${channelType}`,
    );
  }

  /** Runs a call, tracked for close(); with `retry`, again after a deadlock or a lost race. */
  async #run<T>(fn: () => Promise<T>, retry = false): Promise<T> {
    if (this.#closing) throw new UnavailableError("message store is closed");
    const call = this.#attempt(fn, retry);
    this.#inFlight.add(call);
    try {
      return await call;
    } finally {
      this.#inFlight.delete(call);
    }
  }

  async #attempt<T>(fn: () => Promise<T>, retry: boolean): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const code = errorCode(err);
        if (retry && attempt < MAX_ATTEMPTS && (err instanceof RaceLost || RETRYABLE_SQLSTATES.has(code))) {
          this.#log.debug({ attempt, code, err: String(err) }, "write lost a race, retrying");
          continue;
        }
        // Connection trouble is the caller's 503, not a bug.
        if (CONNECTION_CODES.has(code) || code.startsWith("08"))
          throw new UnavailableError(`postgres unavailable: ${String(err)}`, { cause: err });
        throw err;
      }
    }
  }
}
