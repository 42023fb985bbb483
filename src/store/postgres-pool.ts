/**
 * The node-postgres pool under PostgresMessageStore, and the rules that keep it safe: no driver
 * error may escape to the process (every idle and checked-out client has an 'error' listener),
 * every wait is bounded (connect, client-side read and server-side statement timeouts), and a
 * client whose connection broke is handed back with its error so the pool drops it.
 */
import pg from "pg";
import { UnavailableError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";

export interface PostgresPoolOptions {
  url: string;
  max: number;
  /** Bound of a connect, of waiting for a free client, and of one statement (client and server side). */
  timeoutMs: number;
  log: Logger;
}

/** How long an unused connection stays open. */
const IDLE_TIMEOUT_MS = 30_000;

export function createPool(o: PostgresPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.max,
    connectionTimeoutMillis: o.timeoutMs,
    query_timeout: o.timeoutMs,
    statement_timeout: o.timeoutMs,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    keepAlive: true,
  });
  // An idle client whose connection fails is dropped by the pool, which then emits it here;
  // without a listener it would be an uncaught exception.
  pool.on("error", (err) => o.log.warn({ err: String(err), code: errorCode(err) }, "idle postgres connection failed"));
  pool.on("connect", (client) => {
    client.on("notice", (notice) => o.log.debug({ notice: notice.message }, "postgres notice"));
  });
  return pool;
}

export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EPIPE",
  "EHOSTUNREACH",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, shutting down)
  "53300", // too_many_connections
  "57014", // query_canceled: statement_timeout
]);
/** node-postgres' own errors for a lost, timed-out or ended connection (they carry no code). */
const UNAVAILABLE_MESSAGES = new Set([
  "Connection terminated unexpectedly",
  "Connection terminated due to connection timeout",
  "Query read timeout",
  "timeout exceeded when trying to connect",
  "Client has encountered a connection error and is not queryable",
  "Cannot use a pool after calling end on the pool",
]);

/**
 * True when `err` says the database cannot be reached or did not answer in time (the caller's
 * 503), as opposed to an error in the statement itself.
 */
export function isPostgresUnavailable(err: unknown): boolean {
  if (err === null || typeof err !== "object") return false;
  const code = errorCode(err);
  if (UNAVAILABLE_CODES.has(code) || code.startsWith("08")) return true;
  if (err instanceof Error && UNAVAILABLE_MESSAGES.has(err.message)) return true;
  // A host name resolving to several addresses fails with one error per address.
  return err instanceof AggregateError && err.errors.some(isPostgresUnavailable);
}

/** The connection cannot be used again: drop it rather than roll back over it. */
function connectionBroken(err: unknown): boolean {
  return isPostgresUnavailable(err) && errorCode(err) !== "57014";
}

/**
 * Runs `fn` on a checked-out client, inside a transaction opened with `begin` (e.g. "BEGIN")
 * when given. The client carries an 'error' listener while out of the pool; it goes back with
 * its error when the connection broke, so the pool ends it. A failed ROLLBACK is logged and
 * the client dropped; the original error is the one thrown.
 */
export async function withClient<T>(pool: pg.Pool, log: Logger, fn: (client: pg.PoolClient) => Promise<T>, begin?: string): Promise<T> {
  const client = await pool.connect();
  let failure: Error | undefined;
  const onError = (err: Error) => {
    failure ??= err;
    log.warn({ err: String(err), code: errorCode(err) }, "postgres connection failed while in use");
  };
  client.on("error", onError);
  try {
    if (begin) await client.query(begin);
    const result = await fn(client);
    if (begin) await client.query("COMMIT");
    return result;
  } catch (err) {
    if (connectionBroken(err)) failure ??= err instanceof Error ? err : new Error(String(err));
    else if (begin && !failure) {
      try {
        await client.query("ROLLBACK");
      } catch (rollbackErr) {
        log.warn({ err: String(rollbackErr), code: errorCode(rollbackErr) }, "postgres rollback failed; dropping the connection");
        failure ??= rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      }
    }
    throw err;
  } finally {
    // Released first: release() puts the pool's own listener back before ours goes.
    client.release(failure);
    client.removeListener("error", onError);
  }
}

/**
 * Runs `fn` up to `attempts` times while it fails with a `retryable` error; maps connection
 * trouble and timeouts to UnavailableError (the caller's 503, not a bug).
 */
export async function runMapped<T>(
  fn: () => Promise<T>,
  o: { attempts: number; retryable: (err: unknown) => boolean; log: Logger },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt < o.attempts && o.retryable(err)) {
        o.log.debug({ attempt, code: errorCode(err), err: String(err) }, "write lost a race, retrying");
        continue;
      }
      if (isPostgresUnavailable(err)) throw new UnavailableError(`postgres unavailable: ${reason(err)}`, { cause: err });
      throw err;
    }
  }
}

/** An error's message, or its code and the errors under it when it has none (AggregateError). */
function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.message) return err.message;
  const code = errorCode(err);
  if (err instanceof AggregateError) return [code, ...err.errors.map((e) => String(e))].filter(Boolean).join("; ");
  return code || err.name;
}
