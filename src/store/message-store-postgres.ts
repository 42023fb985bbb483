/**
 * The clustered MessageStore: PostgreSQL through node-postgres (pool in postgres-pool.ts), every
 * table in one schema.
 * Several processes append at once: a channel's row lock (taken by the counter upsert) serializes
 * appends to that channel, the unique index on (from_uid, client_msg_no) settles racing retries,
 * and a batch that loses a race or a deadlock is rolled back whole and retried, so seqs stay
 * gap-free. An append batch costs five round trips whatever its size (postgres-append.ts).
 *
 * Known limit: message ids come from a sequence, so two transactions can commit out of id order.
 * A conversation sync running exactly then may report a version past a change that commits a
 * moment later; that conversation shows up again with its next message.
 */
import type pg from "pg";
import { ConfigError, UnavailableError } from "../util/errors.js";
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
import { MAX_ATTEMPTS, appendBatch, isRaceLost, syncConversations } from "./postgres-append.js";
import { createPool, runMapped, withClient } from "./postgres-pool.js";
import { type PostgresTables, checkSchemaName, migratePostgres, tableRefs } from "./postgres-schema.js";
import {
  type AccountRow,
  type MessageRow,
  accountFromRow,
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
  planRange,
} from "./store-common.js";

export interface PostgresMessageStoreOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Schema holding every table; created if missing. Default "switchboard". */
  schema?: string;
  /** Pool size. Default 10. */
  maxConnections?: number;
  /**
   * Bound, in ms, of connecting, of waiting for a free connection and of each statement (client
   * and server side); past it a call fails with UnavailableError. Default 2000.
   */
  timeoutMs?: number;
  logger?: Logger;
}

export const DEFAULT_POSTGRES_SCHEMA = "switchboard";
const DEFAULT_MAX_CONNECTIONS = 10;
const DEFAULT_TIMEOUT_MS = 2000;
/** Migrations may wait for another process's migration or for a table lock: a longer bound. */
const MIGRATE_TIMEOUT_MS = 30_000;
/** The accounts columns read back, in AccountRow's shape. */
const ACCOUNT_COLUMNS = "user_id, user_name, created_at, route_node, routed_at";
/** A row's channel, as the first two parameters. */
const CHANNEL = "channel_id = $1 AND channel_type = $2";

export { isPostgresUnavailable } from "./postgres-pool.js";

export class PostgresMessageStore implements MessageStore {
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #t: PostgresTables;
  readonly #timeoutMs: number;
  readonly #log: Logger;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing = false;
  #closed: Promise<void> | undefined;

  constructor(options: PostgresMessageStoreOptions) {
    this.#schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
    checkSchemaName(this.#schema);
    this.#log = (options.logger ?? silentLogger).child({ module: "store.postgres", schema: this.#schema });
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // 0 would mean no bound at all to node-postgres.
    if (!Number.isSafeInteger(this.#timeoutMs) || this.#timeoutMs < 1)
      throw new ConfigError(`timeoutMs must be a positive integer, got ${this.#timeoutMs}`);
    this.#pool = createPool({
      url: options.url,
      max: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      timeoutMs: this.#timeoutMs,
      log: this.#log,
    });
    this.#t = tableRefs(this.#schema);
  }

  async migrate(): Promise<void> {
    await this.#tx("BEGIN", (tx) => migratePostgres(tx, this.#schema, Math.max(this.#timeoutMs, MIGRATE_TIMEOUT_MS), this.#log));
  }

  /** Waits for calls in flight (each bounded by the timeouts), then ends the pool. */
  close(): Promise<void> {
    this.#closing = true;
    this.#closed ??= (async () => {
      await Promise.allSettled(this.#inFlight);
      await this.#pool.end();
    })();
    return this.#closed;
  }

  /** One round trip, through the same path and error mapping as every other call. */
  async ping(): Promise<void> {
    await this.#rows("SELECT 1");
  }

  async append(inputs: AppendInput[]): Promise<AppendResult[]> {
    checkAppendInputs(inputs);
    if (inputs.length === 0) return [];
    return this.#tx("BEGIN", (tx) => appendBatch(tx, this.#t, inputs), true);
  }

  async allocateMessageId(): Promise<number> {
    const [row] = await this.#rows(`SELECT nextval(${this.#t.ids}) AS id`);
    return Number(row.id);
  }

  async getMessages(query: MessageRangeQuery): Promise<MessageRange> {
    const plan = planRange(query);
    if (!plan) return { messages: [], more: false };
    const rows = await this.#rows<MessageRow>(
      `SELECT * FROM ${this.#t.messages} WHERE ${CHANNEL} AND message_seq BETWEEN $3 AND $4
      ORDER BY message_seq ${plan.descending ? "DESC" : "ASC"} LIMIT $5`,
      [query.channelId, query.channelType, plan.minSeq, plan.maxSeq, plan.limit + 1],
    );
    return finishRange(rows.map(messageFromRow), plan);
  }

  async getMessagesBySeq(channelId: string, channelType: number, seqs: number[]): Promise<StoredMessage[]> {
    checkChannel(channelId, channelType);
    checkSeqs(seqs);
    if (seqs.length === 0) return [];
    const rows = await this.#rows<MessageRow>(
      `SELECT * FROM ${this.#t.messages} WHERE ${CHANNEL} AND message_seq = ANY($3::bigint[]) ORDER BY message_seq`,
      [channelId, channelType, seqs],
    );
    return rows.map(messageFromRow);
  }

  async maxSeq(channelId: string, channelType: number): Promise<number> {
    checkChannel(channelId, channelType);
    const [row] = await this.#rows(`SELECT last_seq FROM ${this.#t.channels} WHERE ${CHANNEL}`, [channelId, channelType]);
    return row ? Number(row.last_seq) : 0;
  }

  async upsertChannel(u: ChannelUpdate): Promise<void> {
    checkChannel(u.channelId, u.channelType);
    await this.#rows(
      `INSERT INTO ${this.#t.channels} AS c (channel_id, channel_type, created, ban, disband, send_ban, large)
      VALUES ($1, $2, true, coalesce($3::boolean, false), coalesce($4::boolean, false),
        coalesce($5::boolean, false), coalesce($6::boolean, false))
      ON CONFLICT (channel_id, channel_type) DO UPDATE SET created = true, ban = coalesce($3::boolean, c.ban),
        disband = coalesce($4::boolean, c.disband), send_ban = coalesce($5::boolean, c.send_ban),
        large = coalesce($6::boolean, c.large)`,
      [u.channelId, u.channelType, u.ban ?? null, u.disband ?? null, u.sendBan ?? null, u.large ?? null],
    );
  }

  async getChannel(channelId: string, channelType: number): Promise<ChannelInfo | undefined> {
    checkChannel(channelId, channelType);
    const [r] = await this.#rows(`SELECT ban, disband, send_ban, large FROM ${this.#t.channels} WHERE ${CHANNEL} AND created`, [
      channelId,
      channelType,
    ]);
    return r && { channelId, channelType, ban: r.ban, disband: r.disband, sendBan: r.send_ban, large: r.large };
  }

  async deleteChannel(channelId: string, channelType: number): Promise<void> {
    checkChannel(channelId, channelType);
    const T = this.#t;
    // Keeps last_seq: messages stay, and a re-created channel continues its seqs.
    await this.#rows(
      `WITH ch AS (
        UPDATE ${T.channels} SET created = false, ban = false, disband = false, send_ban = false, large = false
        WHERE channel_id = $1::text AND channel_type = $2::smallint
      ), subs AS (
        DELETE FROM ${T.subscribers} WHERE channel_id = $1 AND channel_type = $2
      )
      DELETE FROM ${T.conversations} WHERE channel_id = $1 AND channel_type = $2`,
      [channelId, channelType],
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
    await this.#rows(
      `WITH gone AS (
        DELETE FROM ${T.subscribers}
        WHERE $4::boolean AND channel_id = $1::text AND channel_type = $2::smallint AND uid <> ALL($3::text[])
        RETURNING uid
      ), gone_conversations AS (
        DELETE FROM ${T.conversations} cv USING gone
        WHERE cv.uid = gone.uid AND cv.channel_id = $1 AND cv.channel_type = $2
      ), subs AS (
        INSERT INTO ${T.subscribers} (channel_id, channel_type, uid)
        SELECT $1, $2, u FROM unnest($3::text[]) AS u ON CONFLICT DO NOTHING
      )
      INSERT INTO ${T.conversations} (uid, channel_id, channel_type, readed_to_seq, version)
      SELECT u, $1, $2,
        coalesce((SELECT last_seq FROM ${T.channels} WHERE channel_id = $1 AND channel_type = $2), 0),
        (SELECT nextval(${T.ids}))
      FROM unnest($3::text[]) AS u ON CONFLICT DO NOTHING`,
      [channelId, channelType, list, reset],
      true,
    );
  }

  async removeSubscribers(channelId: string, channelType: number, uids: string[]): Promise<void> {
    checkChannel(channelId, channelType);
    const T = this.#t;
    // A former member's read position would count every later message as unread: drop it.
    await this.#rows(
      `WITH subs AS (
        DELETE FROM ${T.subscribers} WHERE channel_id = $1::text AND channel_type = $2::smallint AND uid = ANY($3::text[])
      )
      DELETE FROM ${T.conversations} WHERE channel_id = $1 AND channel_type = $2 AND uid = ANY($3::text[])`,
      [channelId, channelType, uids],
    );
  }

  async getSubscribers(channelId: string, channelType: number): Promise<string[]> {
    checkChannel(channelId, channelType);
    const rows = await this.#rows(
      // Binary order, as SQLite sorts, whatever the database collation.
      `SELECT uid FROM ${this.#t.subscribers} WHERE channel_id = $1 AND channel_type = $2 ORDER BY uid COLLATE "C"`,
      [channelId, channelType],
    );
    return rows.map((r) => r.uid as string);
  }

  async isSubscriber(channelId: string, channelType: number, uid: string): Promise<boolean> {
    checkChannel(channelId, channelType);
    const rows = await this.#rows(`SELECT 1 FROM ${this.#t.subscribers} WHERE ${CHANNEL} AND uid = $3`, [channelId, channelType, uid]);
    return rows.length > 0;
  }

  async syncConversations(query: ConversationSyncQuery): Promise<Conversation[]> {
    checkSyncQuery(query);
    // One snapshot: recents are consistent with the conversation rows.
    return this.#tx("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", (tx) => syncConversations(tx, this.#t, query));
  }

  async clearUnread(uid: string, channelId: string, channelType: number, messageSeq = 0): Promise<void> {
    checkUid(uid);
    checkChannel(channelId, channelType);
    checkUint(messageSeq, "messageSeq");
    const seq = messageSeq === 0 ? Number.MAX_SAFE_INTEGER : messageSeq;
    await this.#updateConversation(uid, channelId, channelType, (last) => `greatest(readed_to_seq, least($4::bigint, ${last}))`, [seq]);
  }

  async setUnread(uid: string, channelId: string, channelType: number, unread: number): Promise<void> {
    checkUid(uid);
    checkChannel(channelId, channelType);
    checkUint(unread, "unread");
    await this.#updateConversation(uid, channelId, channelType, (last) => `greatest(0, ${last} - $4::bigint)`, [unread]);
  }

  async deleteConversation(uid: string, channelId: string, channelType: number): Promise<void> {
    checkUid(uid);
    checkChannel(channelId, channelType);
    await this.#updateConversation(uid, channelId, channelType, (last) => last, [], true);
  }

  async setToken(record: TokenRecord): Promise<void> {
    checkToken(record);
    await this.#rows(
      `INSERT INTO ${this.#t.tokens} (uid, device_flag, token, device_level) VALUES ($1, $2, $3, $4)
      ON CONFLICT (uid, device_flag) DO UPDATE SET token = excluded.token, device_level = excluded.device_level`,
      [record.uid, record.deviceFlag, record.token, record.deviceLevel],
    );
  }

  async getToken(uid: string, deviceFlag: number): Promise<TokenRecord | undefined> {
    checkUid(uid);
    checkUint(deviceFlag, "deviceFlag", 255);
    const [r] = await this.#rows(`SELECT token, device_level FROM ${this.#t.tokens} WHERE uid = $1 AND device_flag = $2`, [
      uid,
      deviceFlag,
    ]);
    return r && { uid, deviceFlag, token: r.token, deviceLevel: r.device_level };
  }

  async registerAccount(userName: string): Promise<Account> {
    checkUserName(userName);
    const T = this.#t;
    const [row] = await this.#rows<AccountRow>(
      `WITH fresh AS (
        INSERT INTO ${T.accounts} (user_id, user_name, created_at)
        VALUES (nextval(${T.ids})::text, $1::text, $2::bigint)
        ON CONFLICT (user_name) DO NOTHING
        RETURNING ${ACCOUNT_COLUMNS})
      SELECT * FROM fresh UNION ALL SELECT ${ACCOUNT_COLUMNS} FROM ${T.accounts} WHERE user_name = $1
      LIMIT 1`,
      [userName, Date.now()],
    );
    // A concurrent first registration of the same name commits between the two halves: read it.
    const r = row ?? (await this.#rows<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM ${T.accounts} WHERE user_name = $1`, [userName]))[0];
    return accountFromRow(r);
  }

  async getAccounts(userIds: string[]): Promise<Account[]> {
    if (userIds.length === 0) return [];
    const ids = [...new Set(userIds)];
    const rows = await this.#rows<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM ${this.#t.accounts} WHERE user_id = ANY($1::text[])`, [ids]);
    return rows.map(accountFromRow);
  }

  async setAccountRoute(userId: string, nodeId: string | null): Promise<boolean> {
    checkAccountRoute(userId, nodeId);
    const at = nodeId === null ? null : Date.now();
    const rows = await this.#rows(
      `UPDATE ${this.#t.accounts} SET route_node = $1::text, routed_at = $2::bigint WHERE user_id = $3 RETURNING user_id`,
      [nodeId, at, userId],
    );
    return rows.length > 0;
  }

  /**
   * Moves a read position to `readTo(lastSeq)` and stamps the row with a fresh id, so other
   * devices' syncs see the change; `hide` also hides the conversation until its next message.
   * `readTo` builds SQL from the channel's last seq; its own parameters start at $4.
   */
  async #updateConversation(
    uid: string,
    channelId: string,
    channelType: number,
    readTo: (lastSeq: string) => string,
    params: unknown[],
    hide = false,
  ): Promise<void> {
    const T = this.#t;
    const last = `coalesce((SELECT last_seq FROM ${T.channels} WHERE channel_id = $2::text AND channel_type = $3::smallint), 0)`;
    await this.#rows(
      `UPDATE ${T.conversations} SET readed_to_seq = ${readTo(last)},
        deleted_to_seq = ${hide ? last : "deleted_to_seq"}, version = nextval(${T.ids})
      WHERE uid = $1 AND channel_id = $2 AND channel_type = $3`,
      [uid, channelId, channelType, ...params],
    );
  }

  /** One statement on a pooled connection; the rows. */
  #rows<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = [], retry = false): Promise<R[]> {
    return this.#run(async () => (await withClient(this.#pool, this.#log, (c) => c.query<R>(text, values))).rows, retry);
  }

  /** `fn` in one transaction opened by `begin`, committed when it returns, rolled back when it throws. */
  #tx<T>(begin: string, fn: (tx: pg.PoolClient) => Promise<T>, retry = false): Promise<T> {
    return this.#run(() => withClient(this.#pool, this.#log, fn, begin), retry);
  }

  /** Runs a call, tracked for close(); with `retry`, again after a deadlock or a lost race. */
  async #run<T>(fn: () => Promise<T>, retry = false): Promise<T> {
    if (this.#closing) throw new UnavailableError("message store is closed");
    const call = runMapped(fn, { attempts: retry ? MAX_ATTEMPTS : 1, retryable: isRaceLost, log: this.#log });
    this.#inFlight.add(call);
    try {
      return await call;
    } finally {
      this.#inFlight.delete(call);
    }
  }
}
