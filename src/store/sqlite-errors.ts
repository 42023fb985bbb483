/**
 * SQLite failures that mean "the store cannot serve right now" rather than "this request is
 * wrong": the condition is outside the process (disk, file mode, another writer) and clears by
 * itself or by an operator, so the caller gets a 503 and the process stays up.
 */
import { UnavailableError } from "../util/errors.js";

/** Primary SQLite result codes (before any extended suffix) and what each means to an operator. */
const UNAVAILABLE: Record<string, string> = {
  SQLITE_FULL: "the disk holding the SQLite database is full",
  SQLITE_READONLY: "the SQLite database file is read-only",
  SQLITE_BUSY: "the SQLite database is locked by another writer",
  SQLITE_LOCKED: "the SQLite database is locked",
  SQLITE_IOERR: "the disk holding the SQLite database failed a read or write",
  SQLITE_CANTOPEN: "the SQLite database file cannot be opened",
  SQLITE_PROTOCOL: "the SQLite database's lock protocol failed (another process holds it)",
  SQLITE_NOMEM: "SQLite ran out of memory",
};

/** The SQLite error as an UnavailableError with a sentence, or undefined when it is not one. */
export function sqliteUnavailable(err: unknown): UnavailableError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return undefined;
  // Extended codes add a suffix: SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, SQLITE_BUSY_SNAPSHOT.
  const primary = code.split("_", 2).join("_");
  const sentence = UNAVAILABLE[primary];
  if (!sentence) return undefined;
  return new UnavailableError(`${sentence} (${code}: ${(err as Error).message})`, { cause: err });
}
