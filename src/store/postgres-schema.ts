/**
 * PostgreSQL schema as versioned steps (see Migration in store-common.ts): the same model as
 * sqlite-schema.ts (read the comments there), inside one schema so deployments and tests can
 * share a database. Never edit a released step; add one.
 */
import type postgres from "postgres";
import { ConfigError } from "../util/errors.js";
import type { Migration } from "./store-common.js";

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

/** Schema-qualified table names, as identifiers for tagged queries. */
export function tableRefs(sql: postgres.Sql, schema: string) {
  return {
    messages: sql(`${schema}.messages`),
    channels: sql(`${schema}.channels`),
    subscribers: sql(`${schema}.subscribers`),
    conversations: sql(`${schema}.conversations`),
    tokens: sql(`${schema}.tokens`),
    accounts: sql(`${schema}.accounts`),
  };
}

export type PostgresTables = ReturnType<typeof tableRefs>;
