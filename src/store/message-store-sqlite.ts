/**
 * The embedded default MessageStore: one SQLite file (better-sqlite3, WAL). Calls run
 * synchronously on the caller's thread; a batch of 100 appends is one transaction of about 2 ms
 * (more when it triggers a WAL checkpoint, see the constructor). Several processes may share the file: every write transaction starts with
 * BEGIN IMMEDIATE and keeps no state between transactions, so seqs stay gap-free.
 */
import Database from "better-sqlite3";
import { asBuffer } from "../protocol/bytes.js";
import { messageHeaderBits } from "../protocol/header.js";
import { UnavailableError } from "../util/errors.js";
import { type Logger, silentLogger } from "../util/logger.js";
import { ChannelType, personPeer } from "./channel-id.js";
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
import { SqliteCheckpointer } from "./sqlite-checkpointer.js";
import { SQLITE_MIGRATIONS, type SqliteStatements, prepareSqliteStatements } from "./sqlite-schema.js";
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

export interface SqliteMessageStoreOptions {
  /** A file path, or ":memory:" (one private database per store). */
  path: string;
  logger?: Logger;
  /**
   * "normal" (default): in WAL mode a commit is appended to the WAL without fsync; it survives a
   * crash of this process (the OS holds the page cache) and the database never corrupts, but a
   * power loss or kernel crash can drop the last commits. "full" fsyncs the WAL on every commit
   * (one per append batch): durable against power loss, at the price of one fsync per batch.
   */
  synchronous?: "normal" | "full";
  /**
   * How long a write waits for another process's write lock before failing with SQLITE_BUSY
   * (the wait blocks this thread). Default 5000.
   */
  busyTimeoutMs?: number;
  /** Checkpoint the WAL on a worker thread (default: yes for a file, see sqlite-checkpointer.ts). */
  backgroundCheckpoints?: boolean;
}

const WAL_CHECKPOINT_PAGES = 10_000;

/** Per-batch view of a channel's counter, written back once at the end of the batch. */
interface ChannelTip {
  channelId: string;
  channelType: number;
  lastSeq: number;
  /** Whether the channels row existed before this batch. */
  stored: boolean;
  changed: boolean;
}

const flag = (v: boolean | undefined): number | null => (v === undefined ? null : v ? 1 : 0);

export class SqliteMessageStore implements MessageStore {
  readonly #db: Database.Database;
  readonly #log: Logger;
  readonly #path: string;
  readonly #backgroundCheckpoints: boolean;
  #checkpointer: SqliteCheckpointer | undefined;
  #stmts: SqliteStatements | undefined;
  /** Runs a function in a transaction (`.immediate` for writes: take the write lock up front). */
  readonly #tx: Database.Transaction<(fn: () => unknown) => unknown>;
  readonly #appendTx: Database.Transaction<(s: SqliteStatements, inputs: AppendInput[]) => AppendResult[]>;

  constructor(options: SqliteMessageStoreOptions) {
    this.#log = (options.logger ?? silentLogger).child({ module: "store.sqlite" });
    this.#db = new Database(options.path);
    this.#path = options.path;
    this.#backgroundCheckpoints = (options.backgroundCheckpoints ?? true) && options.path !== ":memory:" && options.path !== "";
    this.#db.pragma("journal_mode = WAL");
    this.#db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
    // Another process holding the write lock (a CLI on the same file) is waited for, not failed.
    this.#db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    // Checkpoints run on this thread inside the commit that crosses the threshold, and cost about
    // one page write per page touched since the last one: a 10,000-page (~40 MB) WAL coalesces the
    // hot index pages (~25% more appends/s than SQLite's 1,000) for a rarer, longer pause (tens of
    // ms). With background checkpoints the worker has copied nearly all of it by then.
    this.#db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    this.#tx = this.#db.transaction((fn: () => unknown) => fn());
    this.#appendTx = this.#db.transaction((s: SqliteStatements, inputs: AppendInput[]) => this.#appendBatch(s, inputs));
  }

  async migrate(): Promise<void> {
    const db = this.#open();
    db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    const step = db.transaction((version: number, name: string, statements: readonly string[]) => {
      // Re-read inside the write lock: another process may have applied this step meanwhile.
      const applied = db.prepare("SELECT coalesce(max(version), 0) FROM schema_version").pluck().get() as number;
      if (applied >= version) return;
      for (const sql of statements) db.exec(sql);
      db.prepare("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)").run(
        version,
        name,
        Math.floor(Date.now() / 1000),
      );
      this.#log.info({ version, name }, "schema migrated");
    });
    const applied = db.prepare("SELECT coalesce(max(version), 0) FROM schema_version").pluck().get() as number;
    for (const m of pendingMigrations(SQLITE_MIGRATIONS, applied)) step.immediate(m.version, m.name, m.statements);
    this.#stmts ??= prepareSqliteStatements(db);
    if (this.#backgroundCheckpoints && !this.#checkpointer) {
      this.#checkpointer = new SqliteCheckpointer({ path: this.#path, logger: this.#log });
    }
  }

  async close(): Promise<void> {
    await this.#checkpointer?.stop();
    this.#checkpointer = undefined;
    if (this.#db.open) this.#db.close();
    this.#stmts = undefined;
  }

  async append(inputs: AppendInput[]): Promise<AppendResult[]> {
    checkAppendInputs(inputs);
    const s = this.#s; // throws the typed error when closed or not migrated
    if (inputs.length === 0) return [];
    return this.#appendTx.immediate(s, inputs);
  }

  #appendBatch(s: SqliteStatements, inputs: AppendInput[]): AppendResult[] {
    let lastId = s.idGet.get() as number;
    const tips = new Map<string, ChannelTip>();
    // Highest seq each sender reached per channel: read positions are written once per batch.
    const reads = new Map<string, { uid: string; tip: ChannelTip; seq: number }>();
    const results: AppendResult[] = [];
    for (const m of inputs) {
      const key = channelKey(m.channelId, m.channelType);
      let tip = tips.get(key);
      if (!tip) {
        const lastSeq = s.channelSeq.get(m.channelId, m.channelType) as number | undefined;
        tip = {
          channelId: m.channelId,
          channelType: m.channelType,
          lastSeq: lastSeq ?? 0,
          stored: lastSeq !== undefined,
          changed: false,
        };
        tips.set(key, tip);
      }
      const messageId = lastId + 1;
      const seq = tip.lastSeq + 1;
      const { changes } = s.insertMessage.run(
        messageId,
        seq,
        m.clientMsgNo,
        m.fromUid,
        m.channelId,
        m.channelType,
        m.setting,
        messageHeaderBits(m.header),
        m.expire,
        m.topic,
        m.timestamp,
        asBuffer(m.payload), // better-sqlite3 binds Buffers only
      );
      let result: AppendResult;
      if (changes === 0) {
        // Only the (from_uid, client_msg_no) conflict is ignored: a retry stored before, or
        // earlier in this batch (the transaction sees its own rows).
        const first = s.firstSend.get(m.fromUid, m.clientMsgNo) as { message_id: number; message_seq: number; timestamp: number };
        result = { messageId: first.message_id, messageSeq: first.message_seq, timestamp: first.timestamp, duplicate: true };
      } else {
        lastId = messageId;
        tip.lastSeq = seq;
        tip.changed = true;
        reads.set(`${m.fromUid}\u0000${key}`, { uid: m.fromUid, tip, seq });
        result = { messageId, messageSeq: seq, timestamp: m.timestamp, duplicate: false };
      }
      results.push(result);
    }
    for (const t of tips.values()) {
      if (!t.changed) continue;
      (t.stored ? s.channelUpdate : s.channelInsert).run(t.lastSeq, t.channelId, t.channelType);
    }
    for (const r of reads.values()) {
      const { channelId, channelType } = r.tip;
      if (channelType !== ChannelType.Person) {
        s.advanceRead.run(r.seq, r.uid, channelId, channelType);
        continue;
      }
      // Both users of a person chat get the conversation; only the sender's read position moves.
      s.readPerson.run(r.uid, channelId, channelType, r.seq);
      const peer = personPeer(channelId, r.uid);
      if (!reads.has(`${peer}\u0000${channelKey(channelId, channelType)}`)) s.ensureConversation.run(peer, channelId, channelType);
    }
    s.idSet.run(lastId);
    return results;
  }

  async ping(): Promise<void> {
    this.#s.probe.run(Date.now());
  }

  async allocateMessageId(): Promise<number> {
    return this.#s.idNext.get() as number;
  }

  async getMessages(query: MessageRangeQuery): Promise<MessageRange> {
    const plan = planRange(query);
    if (!plan) return { messages: [], more: false };
    const stmt = plan.descending ? this.#s.rangeDesc : this.#s.rangeAsc;
    const rows = stmt.all(query.channelId, query.channelType, plan.minSeq, plan.maxSeq, plan.limit + 1) as MessageRow[];
    return finishRange(rows.map(messageFromRow), plan);
  }

  async getMessagesBySeq(channelId: string, channelType: number, seqs: number[]): Promise<StoredMessage[]> {
    checkChannel(channelId, channelType);
    checkSeqs(seqs);
    if (seqs.length === 0) return [];
    const rows = this.#s.bySeq.all(channelId, channelType, JSON.stringify(seqs)) as MessageRow[];
    return rows.map(messageFromRow);
  }

  async maxSeq(channelId: string, channelType: number): Promise<number> {
    checkChannel(channelId, channelType);
    return (this.#s.channelSeq.get(channelId, channelType) as number | undefined) ?? 0;
  }

  async upsertChannel(u: ChannelUpdate): Promise<void> {
    checkChannel(u.channelId, u.channelType);
    this.#s.upsertChannel.run({
      channelId: u.channelId,
      channelType: u.channelType,
      ban: flag(u.ban),
      disband: flag(u.disband),
      sendBan: flag(u.sendBan),
      large: flag(u.large),
    });
  }

  async getChannel(channelId: string, channelType: number): Promise<ChannelInfo | undefined> {
    checkChannel(channelId, channelType);
    const r = this.#s.getChannel.get(channelId, channelType) as
      | { ban: number; disband: number; send_ban: number; large: number }
      | undefined;
    if (!r) return undefined;
    return { channelId, channelType, ban: r.ban === 1, disband: r.disband === 1, sendBan: r.send_ban === 1, large: r.large === 1 };
  }

  async deleteChannel(channelId: string, channelType: number): Promise<void> {
    checkChannel(channelId, channelType);
    const s = this.#s;
    this.#tx.immediate(() => {
      s.dropChannel.run(channelId, channelType);
      s.dropSubscribers.run(channelId, channelType);
      s.dropConversations.run(channelId, channelType);
    });
  }

  async addSubscribers(channelId: string, channelType: number, uids: string[], reset = false): Promise<void> {
    checkChannel(channelId, channelType);
    for (const uid of uids) checkUid(uid, "subscriber uid");
    const s = this.#s;
    this.#tx.immediate(() => {
      if (reset) {
        const keep = new Set(uids);
        for (const old of s.subscribers.all(channelId, channelType) as string[]) {
          if (keep.has(old)) continue;
          s.removeSubscriber.run(channelId, channelType, old);
          s.removeConversation.run(channelId, channelType, old);
        }
      }
      if (uids.length === 0) return;
      const version = s.idNext.get() as number;
      for (const uid of uids) {
        s.addSubscriber.run(channelId, channelType, uid);
        s.joinConversation.run({ uid, channelId, channelType, version });
      }
    });
  }

  async removeSubscribers(channelId: string, channelType: number, uids: string[]): Promise<void> {
    checkChannel(channelId, channelType);
    const s = this.#s;
    this.#tx.immediate(() => {
      // A former member's read position would count every later message as unread: drop it.
      for (const uid of uids) {
        s.removeSubscriber.run(channelId, channelType, uid);
        s.removeConversation.run(channelId, channelType, uid);
      }
    });
  }

  async getSubscribers(channelId: string, channelType: number): Promise<string[]> {
    checkChannel(channelId, channelType);
    return this.#s.subscribers.all(channelId, channelType) as string[];
  }

  async isSubscriber(channelId: string, channelType: number, uid: string): Promise<boolean> {
    checkChannel(channelId, channelType);
    return this.#s.isSubscriber.get(channelId, channelType, uid) !== undefined;
  }

  async syncConversations(query: ConversationSyncQuery): Promise<Conversation[]> {
    checkSyncQuery(query);
    const s = this.#s;
    // One read transaction: conversations and their recents come from the same snapshot.
    return this.#tx(() => {
      const rows = s.syncConversations.all(query.uid, query.version) as ConversationRow[];
      return selectConversations(rows, query).map(({ row, after }) => {
        const recents =
          query.msgCount > 0
            ? (s.recents.all(row.channelId, row.channelType, after, query.msgCount) as MessageRow[]).map(messageFromRow).reverse()
            : [];
        return toConversation(query.uid, row, recents);
      });
    }) as Conversation[];
  }

  async clearUnread(uid: string, channelId: string, channelType: number, messageSeq = 0): Promise<void> {
    checkUid(uid);
    checkChannel(channelId, channelType);
    checkUint(messageSeq, "messageSeq");
    const seq = messageSeq === 0 ? Number.MAX_SAFE_INTEGER : messageSeq;
    this.#bumpConversation((version) => this.#s.clearUnread.run({ uid, channelId, channelType, seq, version }));
  }

  async setUnread(uid: string, channelId: string, channelType: number, unread: number): Promise<void> {
    checkUid(uid);
    checkChannel(channelId, channelType);
    checkUint(unread, "unread");
    this.#bumpConversation((version) => this.#s.setUnread.run({ uid, channelId, channelType, unread, version }));
  }

  async deleteConversation(uid: string, channelId: string, channelType: number): Promise<void> {
    checkUid(uid);
    checkChannel(channelId, channelType);
    this.#bumpConversation((version) => this.#s.deleteConversation.run({ uid, channelId, channelType, version }));
  }

  async setToken(record: TokenRecord): Promise<void> {
    checkToken(record);
    this.#s.setToken.run(record.uid, record.deviceFlag, record.token, record.deviceLevel);
  }

  async getToken(uid: string, deviceFlag: number): Promise<TokenRecord | undefined> {
    checkUid(uid);
    checkUint(deviceFlag, "deviceFlag", 255);
    const r = this.#s.getToken.get(uid, deviceFlag) as { token: string; device_level: number } | undefined;
    return r && { uid, deviceFlag, token: r.token, deviceLevel: r.device_level };
  }

  async registerAccount(userName: string): Promise<Account> {
    checkUserName(userName);
    const s = this.#s;
    return this.#tx.immediate(() => {
      const existing = s.accountByName.get(userName) as AccountRow | undefined;
      if (existing) return accountFromRow(existing);
      const account: Account = { userId: String(s.idNext.get()), userName, createdAt: Date.now(), route: null };
      s.insertAccount.run(account.userId, userName, account.createdAt);
      return account;
    }) as Account;
  }

  async getAccounts(userIds: string[]): Promise<Account[]> {
    const out: Account[] = [];
    for (const id of new Set(userIds)) {
      const a = this.#s.accountById.get(id) as AccountRow | undefined;
      if (a) out.push(accountFromRow(a));
    }
    return out;
  }

  async setAccountRoute(userId: string, nodeId: string | null): Promise<boolean> {
    checkAccountRoute(userId, nodeId);
    return this.#s.setAccountRoute.run(nodeId, nodeId === null ? null : Date.now(), userId).changes > 0;
  }

  /** A read-state change stamped with a fresh id, so other devices' syncs see it. */
  #bumpConversation(update: (version: number) => void): void {
    const s = this.#s;
    this.#tx.immediate(() => update(s.idNext.get() as number));
  }

  #open(): Database.Database {
    if (!this.#db.open) throw new UnavailableError("message store is closed");
    return this.#db;
  }

  get #s(): SqliteStatements {
    this.#open();
    if (!this.#stmts) throw new UnavailableError("message store not migrated: call migrate() first");
    return this.#stmts;
  }
}
