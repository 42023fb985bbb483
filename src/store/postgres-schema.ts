/**
 * PostgreSQL schema as versioned steps (see Migration in store-common.ts): the same model as
 * sqlite-schema.ts (read the comments there), inside one schema so deployments and tests can
 * share a database. Never edit a released step; add one.
 */
import type pg from "pg";
import { ConfigError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { type Migration, pendingMigrations } from "./store-common.js";

/** Postgres' identifier limit is 63 bytes; plain names only, so quoting is never ambiguous. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) throw new ConfigError(`postgres schema must match ${SCHEMA_NAME}, got "${schema}"`);
}

/** The steps with table names qualified by `schema` (already checked by checkSchemaName). */
export function postgresMigrations(schema: string): readonly Migration[] {
  const s = `"${schema}"`;
  return [
    {
      version: 1,
      name: "initial",
      statements: [
        // One sequence for stored messages, NoPersist messages and conversation versions.
        `CREATE SEQUENCE ${s}.message_ids AS bigint`,
        `CREATE TABLE ${s}.messages (
          message_id bigint PRIMARY KEY DEFAULT nextval('${s}.message_ids'),
          channel_id text NOT NULL,
          channel_type smallint NOT NULL,
          message_seq bigint NOT NULL,
          client_msg_no text NOT NULL,
          from_uid text NOT NULL,
          setting smallint NOT NULL,
          flags smallint NOT NULL,
          expire bigint NOT NULL,
          topic text NOT NULL,
          timestamp bigint NOT NULL,
          payload bytea NOT NULL
        )`,
        `ALTER SEQUENCE ${s}.message_ids OWNED BY ${s}.messages.message_id`,
        `CREATE UNIQUE INDEX messages_channel_seq ON ${s}.messages (channel_id, channel_type, message_seq)`,
        `CREATE UNIQUE INDEX messages_client_msg_no ON ${s}.messages (from_uid, client_msg_no) WHERE client_msg_no <> ''`,
        // The row lock on a channel serializes appends to it across processes.
        `CREATE TABLE ${s}.channels (
          channel_id text NOT NULL,
          channel_type smallint NOT NULL,
          last_seq bigint NOT NULL DEFAULT 0,
          created boolean NOT NULL DEFAULT false,
          ban boolean NOT NULL DEFAULT false,
          disband boolean NOT NULL DEFAULT false,
          send_ban boolean NOT NULL DEFAULT false,
          large boolean NOT NULL DEFAULT false,
          PRIMARY KEY (channel_id, channel_type)
        )`,
        `CREATE TABLE ${s}.subscribers (
          channel_id text NOT NULL,
          channel_type smallint NOT NULL,
          uid text NOT NULL,
          PRIMARY KEY (channel_id, channel_type, uid)
        )`,
        `CREATE TABLE ${s}.conversations (
          uid text NOT NULL,
          channel_id text NOT NULL,
          channel_type smallint NOT NULL,
          readed_to_seq bigint NOT NULL DEFAULT 0,
          deleted_to_seq bigint NOT NULL DEFAULT 0,
          version bigint NOT NULL DEFAULT 0,
          PRIMARY KEY (uid, channel_id, channel_type)
        )`,
        `CREATE INDEX conversations_channel ON ${s}.conversations (channel_id, channel_type)`,
        `CREATE TABLE ${s}.tokens (
          uid text NOT NULL,
          device_flag smallint NOT NULL,
          token text NOT NULL,
          device_level smallint NOT NULL,
          PRIMARY KEY (uid, device_flag)
        )`,
      ],
    },
    {
      version: 2,
      name: "cim accounts",
      statements: [`CREATE TABLE ${s}.accounts (user_id text PRIMARY KEY, user_name text NOT NULL UNIQUE, created_at bigint NOT NULL)`],
    },
    {
      version: 3,
      name: "cim account routes",
      statements: [`ALTER TABLE ${s}.accounts ADD COLUMN route_node text, ADD COLUMN routed_at bigint`],
    },
  ];
}

/**
 * Brings `schema` to the latest step inside the caller's transaction, under an advisory lock so
 * processes starting together migrate one after the other (CREATE SCHEMA IF NOT EXISTS races
 * too). Statements get `timeoutMs` rather than the pool's bound: they may wait for that lock.
 */
export async function migratePostgres(tx: pg.ClientBase, schema: string, timeoutMs: number, log: Logger): Promise<void> {
  checkSchemaName(schema);
  const q = `"${schema}"`;
  // node-postgres takes a per-query read timeout that its QueryConfig type does not declare.
  const run = (text: string, values?: unknown[]) => tx.query({ text, values, query_timeout: timeoutMs } as pg.QueryConfig);
  await run(`SET LOCAL statement_timeout = ${Math.trunc(timeoutMs)}`);
  await run("SELECT pg_advisory_xact_lock(hashtext($1))", [`switchboard.migrate.${schema}`]);
  await run(`CREATE SCHEMA IF NOT EXISTS ${q}`);
  await run(
    `CREATE TABLE IF NOT EXISTS ${q}.schema_version (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  const { rows } = await run(`SELECT coalesce(max(version), 0)::int AS v FROM ${q}.schema_version`);
  for (const m of pendingMigrations(postgresMigrations(schema), rows[0].v as number)) {
    for (const statement of m.statements) await run(statement);
    await run(`INSERT INTO ${q}.schema_version (version, name) VALUES ($1, $2)`, [m.version, m.name]);
    log.info({ version: m.version, name: m.name }, "schema migrated");
  }
}

/** Schema-qualified table names, quoted, to interpolate into statement text (the schema is checked). */
export function tableRefs(schema: string) {
  checkSchemaName(schema);
  const t = (name: string) => `"${schema}"."${name}"`;
  return {
    messages: t("messages"),
    channels: t("channels"),
    subscribers: t("subscribers"),
    conversations: t("conversations"),
    tokens: t("tokens"),
    accounts: t("accounts"),
    /** The id sequence, as a string literal for nextval(). */
    ids: `'"${schema}".message_ids'`,
  };
}

export type PostgresTables = ReturnType<typeof tableRefs>;
