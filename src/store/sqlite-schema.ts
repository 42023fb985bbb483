/**
 * SQLite schema as versioned steps (see Migration in store-common.ts), and the statements the
 * store prepares against it. Read diffusion: a message is stored once per channel; a
 * conversation row is only a user's read position in a channel, and its unread count is
 * channels.last_seq - readed_to_seq. Never edit a released step; add one.
 */
import type Database from "better-sqlite3";
import type { Migration } from "./store-common.js";

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial",
    statements: [
      // Global id allocator shared by stored messages, NoPersist messages and conversation
      // versions, so every id is unique and later ids are larger.
      "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
      `INSERT INTO counters (name, value) VALUES ('message_id', 0)`,
      // rowid table: appends land at the end of the b-tree whatever the channel.
      `CREATE TABLE messages (
        message_id INTEGER PRIMARY KEY,
        channel_id TEXT NOT NULL,
        channel_type INTEGER NOT NULL,
        message_seq INTEGER NOT NULL,
        client_msg_no TEXT NOT NULL,
        from_uid TEXT NOT NULL,
        setting INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        expire INTEGER NOT NULL,
        topic TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        payload BLOB NOT NULL
      )`,
      "CREATE UNIQUE INDEX messages_channel_seq ON messages (channel_id, channel_type, message_seq)",
      // An empty clientMsgNo is "no key": it must not make unrelated sends duplicates.
      `CREATE UNIQUE INDEX messages_client_msg_no ON messages (from_uid, client_msg_no) WHERE client_msg_no <> ''`,
      // A row exists for every channel that has messages: it holds the seq counter (the last
      // message itself is found through messages_channel_seq). `created` says whether the
      // channel was created through upsertChannel. Deleting a channel clears `created`
      // but keeps the counter, so seqs never restart and never collide with kept messages.
      `CREATE TABLE channels (
        channel_id TEXT NOT NULL,
        channel_type INTEGER NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL DEFAULT 0,
        ban INTEGER NOT NULL DEFAULT 0,
        disband INTEGER NOT NULL DEFAULT 0,
        send_ban INTEGER NOT NULL DEFAULT 0,
        large INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (channel_id, channel_type)
      ) WITHOUT ROWID`,
      `CREATE TABLE subscribers (
        channel_id TEXT NOT NULL,
        channel_type INTEGER NOT NULL,
        uid TEXT NOT NULL,
        PRIMARY KEY (channel_id, channel_type, uid)
      ) WITHOUT ROWID`,
      // deleted_to_seq: a deleted conversation stays hidden until the channel passes that seq.
      // version: bumped (with a fresh id) on read-state changes; the effective version is
      // max(version, id of the channel's last message).
      `CREATE TABLE conversations (
        uid TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        channel_type INTEGER NOT NULL,
        readed_to_seq INTEGER NOT NULL DEFAULT 0,
        deleted_to_seq INTEGER NOT NULL DEFAULT 0,
        version INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (uid, channel_id, channel_type)
      ) WITHOUT ROWID`,
      "CREATE INDEX conversations_channel ON conversations (channel_id, channel_type)",
      `CREATE TABLE tokens (
        uid TEXT NOT NULL,
        device_flag INTEGER NOT NULL,
        token TEXT NOT NULL,
        device_level INTEGER NOT NULL,
        PRIMARY KEY (uid, device_flag)
      ) WITHOUT ROWID`,
    ],
  },
  {
    version: 2,
    name: "cim accounts",
    statements: [
      "CREATE TABLE accounts (user_id TEXT PRIMARY KEY, user_name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL) WITHOUT ROWID",
    ],
  },
  {
    version: 3,
    name: "cim account routes",
    statements: ["ALTER TABLE accounts ADD COLUMN route_node TEXT", "ALTER TABLE accounts ADD COLUMN routed_at INTEGER"],
  },
];

const MSG_COLS =
  "message_id, message_seq, client_msg_no, from_uid, channel_id, channel_type, setting, flags, expire, topic, timestamp, payload";
const LAST_SEQ = "coalesce((SELECT last_seq FROM channels WHERE channel_id = @channelId AND channel_type = @channelType), 0)";
const CONV_KEY = "uid = @uid AND channel_id = @channelId AND channel_type = @channelType";

/** Every statement the store runs, by name. */
const SQL = {
  idGet: `SELECT value FROM counters WHERE name = 'message_id'`,
  idSet: `UPDATE counters SET value = ? WHERE name = 'message_id'`,
  idNext: `UPDATE counters SET value = value + 1 WHERE name = 'message_id' RETURNING value`,
  // A real one-row write: a disk that is full or read-only fails it like it fails a send.
  probe: `INSERT INTO counters (name, value) VALUES ('health_probe', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
  channelSeq: "SELECT last_seq FROM channels WHERE channel_id = ? AND channel_type = ?",
  channelInsert: "INSERT INTO channels (last_seq, channel_id, channel_type) VALUES (?, ?, ?)",
  channelUpdate: "UPDATE channels SET last_seq = ? WHERE channel_id = ? AND channel_type = ?",
  insertMessage: `INSERT INTO messages (${MSG_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (from_uid, client_msg_no) WHERE client_msg_no <> '' DO NOTHING`,
  firstSend: "SELECT message_id, message_seq, timestamp FROM messages WHERE from_uid = ? AND client_msg_no = ?",
  rangeAsc: `SELECT ${MSG_COLS} FROM messages WHERE channel_id = ? AND channel_type = ? AND message_seq BETWEEN ? AND ?
    ORDER BY message_seq LIMIT ?`,
  rangeDesc: `SELECT ${MSG_COLS} FROM messages WHERE channel_id = ? AND channel_type = ? AND message_seq BETWEEN ? AND ?
    ORDER BY message_seq DESC LIMIT ?`,
  bySeq: `SELECT ${MSG_COLS} FROM messages WHERE channel_id = ? AND channel_type = ?
    AND message_seq IN (SELECT value FROM json_each(?)) ORDER BY message_seq`,
  upsertChannel: `INSERT INTO channels (channel_id, channel_type, created, ban, disband, send_ban, large)
    VALUES (@channelId, @channelType, 1, coalesce(@ban, 0), coalesce(@disband, 0), coalesce(@sendBan, 0), coalesce(@large, 0))
    ON CONFLICT (channel_id, channel_type) DO UPDATE SET created = 1, ban = coalesce(@ban, ban),
      disband = coalesce(@disband, disband), send_ban = coalesce(@sendBan, send_ban), large = coalesce(@large, large)`,
  getChannel: "SELECT ban, disband, send_ban, large FROM channels WHERE channel_id = ? AND channel_type = ? AND created = 1",
  // Keeps last_seq: messages stay, and a re-created channel continues its seqs.
  dropChannel: "UPDATE channels SET created = 0, ban = 0, disband = 0, send_ban = 0, large = 0 WHERE channel_id = ? AND channel_type = ?",
  dropSubscribers: "DELETE FROM subscribers WHERE channel_id = ? AND channel_type = ?",
  dropConversations: "DELETE FROM conversations WHERE channel_id = ? AND channel_type = ?",
  addSubscriber: "INSERT INTO subscribers (channel_id, channel_type, uid) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
  removeSubscriber: "DELETE FROM subscribers WHERE channel_id = ? AND channel_type = ? AND uid = ?",
  removeConversation: "DELETE FROM conversations WHERE channel_id = ? AND channel_type = ? AND uid = ?",
  subscribers: "SELECT uid FROM subscribers WHERE channel_id = ? AND channel_type = ? ORDER BY uid",
  isSubscriber: "SELECT 1 FROM subscribers WHERE channel_id = ? AND channel_type = ? AND uid = ?",
  // A member joining late starts with the history read: only what comes after counts as unread.
  joinConversation: `INSERT INTO conversations (uid, channel_id, channel_type, readed_to_seq, version)
    VALUES (@uid, @channelId, @channelType, ${LAST_SEQ}, @version) ON CONFLICT DO NOTHING`,
  ensureConversation: "INSERT INTO conversations (uid, channel_id, channel_type) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
  readPerson: `INSERT INTO conversations (uid, channel_id, channel_type, readed_to_seq) VALUES (?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET readed_to_seq = max(readed_to_seq, excluded.readed_to_seq)`,
  advanceRead: "UPDATE conversations SET readed_to_seq = max(readed_to_seq, ?) WHERE uid = ? AND channel_id = ? AND channel_type = ?",
  // Newest first; the last message is found by (channel, last_seq) through the unique index.
  syncConversations: `SELECT cv.channel_id AS channelId, cv.channel_type AS channelType, cv.readed_to_seq AS readedToSeq,
      max(cv.version, coalesce(m.message_id, 0)) AS version, ch.last_seq AS lastSeq,
      coalesce(m.client_msg_no, '') AS lastClientMsgNo, coalesce(m.timestamp, 0) AS lastTimestamp
    FROM conversations cv
    JOIN channels ch ON ch.channel_id = cv.channel_id AND ch.channel_type = cv.channel_type
    LEFT JOIN messages m ON m.channel_id = ch.channel_id AND m.channel_type = ch.channel_type AND m.message_seq = ch.last_seq
    WHERE cv.uid = ? AND ch.last_seq > cv.deleted_to_seq AND max(cv.version, coalesce(m.message_id, 0)) > ?
    ORDER BY m.message_id DESC`,
  recents: `SELECT ${MSG_COLS} FROM messages WHERE channel_id = ? AND channel_type = ? AND message_seq > ?
    ORDER BY message_seq DESC LIMIT ?`,
  clearUnread: `UPDATE conversations SET readed_to_seq = max(readed_to_seq, min(@seq, ${LAST_SEQ})), version = @version WHERE ${CONV_KEY}`,
  setUnread: `UPDATE conversations SET readed_to_seq = max(0, ${LAST_SEQ} - @unread), version = @version WHERE ${CONV_KEY}`,
  deleteConversation: `UPDATE conversations SET readed_to_seq = ${LAST_SEQ}, deleted_to_seq = ${LAST_SEQ}, version = @version WHERE ${CONV_KEY}`,
  setToken: `INSERT INTO tokens (uid, device_flag, token, device_level) VALUES (?, ?, ?, ?)
    ON CONFLICT (uid, device_flag) DO UPDATE SET token = excluded.token, device_level = excluded.device_level`,
  getToken: "SELECT token, device_level FROM tokens WHERE uid = ? AND device_flag = ?",
  accountByName: "SELECT user_id, user_name, created_at, route_node, routed_at FROM accounts WHERE user_name = ?",
  accountById: "SELECT user_id, user_name, created_at, route_node, routed_at FROM accounts WHERE user_id = ?",
  insertAccount: "INSERT INTO accounts (user_id, user_name, created_at) VALUES (?, ?, ?)",
  setAccountRoute: "UPDATE accounts SET route_node = ?, routed_at = ? WHERE user_id = ?",
} as const;

/** Statements whose result is a single column: they return the value itself. */
const PLUCKED = ["idGet", "idNext", "channelSeq", "subscribers", "isSubscriber"] as const;

export type SqliteStatements = { readonly [K in keyof typeof SQL]: Database.Statement };

/** Prepared once, after migrate() (preparing checks the tables exist). */
export function prepareSqliteStatements(db: Database.Database): SqliteStatements {
  const prepared = Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as SqliteStatements;
  for (const name of PLUCKED) prepared[name].pluck();
  return prepared;
}
