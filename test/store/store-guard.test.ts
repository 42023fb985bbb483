/**
 * The guarded store on a real SQLite file that stops serving: made unwritable under the running
 * store (chattr +i on the database and its WAL, as an operator's mistake or a failing disk would),
 * and locked by another writer. Each failure is a StoreUnavailableError with a sentence, health
 * goes down and comes back by itself when the condition clears, and writes work again. And a
 * PostgreSQL that holds a send past the deadline (a lock) fails it in time without losing it.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { PostgresMessageStore } from "../../src/store/message-store-postgres.js";
import { SqliteMessageStore } from "../../src/store/message-store-sqlite.js";
import type { AppendInput, MessageStore } from "../../src/store/message-store.js";
import { sqliteUnavailable } from "../../src/store/sqlite-errors.js";
import { guardStore } from "../../src/store/store-guard.js";
import { StoreHealth } from "../../src/store/store-health.js";
import { StoreUnavailableError, httpStatusOf } from "../../src/util/errors.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";
import { until } from "../helpers/wait.js";

const input = (i: number): AppendInput => ({
  fromUid: "ann",
  channelId: "ann@bob",
  channelType: 1,
  clientMsgNo: `g-${i}`,
  header: { noPersist: false, redDot: true, syncOnce: false },
  setting: 0,
  expire: 0,
  topic: "",
  payload: new TextEncoder().encode(`m${i}`),
  timestamp: 1,
});

/** chattr +i / -i: the files stay open but every write to them fails (EPERM), reads still work. */
function immutable(on: boolean, files: string[]): void {
  execFileSync("chattr", [on ? "+i" : "-i", ...files]);
}

describe("the guarded store when SQLite cannot write", () => {
  let dir: string;
  let backend: SqliteMessageStore;
  let health: StoreHealth;
  let store: MessageStore;
  let files: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "switchboard-guard-"));
    const path = join(dir, "switchboard.db");
    // A short busy timeout: the locked-database case waits this long on the event loop.
    backend = new SqliteMessageStore({ path, busyTimeoutMs: 100, backgroundCheckpoints: false });
    health = new StoreHealth({ backend: "sqlite", probe: () => store.ping(), intervalMs: 100 });
    store = guardStore(backend, { backend: "sqlite", timeoutMs: 1_000, health, classify: sqliteUnavailable });
    await store.migrate();
    health.start();
    // The WAL exists once something was written. (Never the -shm file: it is memory-mapped.)
    await store.append([input(0)]);
    files = [path, `${path}-wal`];
  });
  after(async () => {
    health.stop();
    try {
      immutable(false, files);
    } catch {}
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("an unwritable file: store_unavailable with a sentence, health down, back by itself when writable", async () => {
    immutable(true, files);
    let released = false;
    try {
      const err = await store.append([input(1)]).then(
        () => assert.fail("a write to an immutable file was acknowledged"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
      assert.equal(err.code, "store_unavailable");
      assert.equal(httpStatusOf(err), 503);
      assert.match(err.message, /SQLite database/);
      assert.equal(health.available, false);
      assert.match(health.status().error ?? "", /SQLite/);
      // Reads of what is stored still work: the store is down for writes, not lost.
      const range = await backend.getMessages({ channelId: "ann@bob", channelType: 1, startSeq: 0, endSeq: 0, limit: 10, pullMode: 1 });
      assert.equal(range.messages.length, 1);
      // The probe keeps finding it down.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(health.available, false, "still down while the file is unwritable");
      immutable(false, files);
      released = true;
      const backMs = await until("the probe to find the store writable", () => health.available, 3_000);
      assert.ok(backMs < 3_000);
      const [stored] = await store.append([input(1)]);
      assert.equal(stored.messageSeq, 2, "the next seq, no gap left by the failed write");
      assert.equal(stored.duplicate, false);
    } finally {
      if (!released) immutable(false, files);
    }
  });

  test("a database locked by another writer: store_unavailable after the busy timeout, fine once released", async () => {
    const other = new Database(join(dir, "switchboard.db"));
    other.exec("BEGIN IMMEDIATE");
    try {
      const err = await store.append([input(2)]).then(
        () => assert.fail("a write under another writer's lock was acknowledged"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
      assert.match(err.message, /locked/);
      assert.equal(health.available, false);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    await until("the store available again", () => health.available, 3_000);
    const [stored] = await store.append([input(2)]);
    assert.equal(stored.messageSeq, 3);
  });

  test("a request the store refuses is the caller's error, not an outage", async () => {
    await assert.rejects(store.append([{ ...input(3), fromUid: "" }]), (e: unknown) => !(e instanceof StoreUnavailableError));
    assert.equal(health.available, true);
  });
});

describe("the guarded store when PostgreSQL does not answer in time", async () => {
  const skip = await skipUnless("postgres");
  const schema = uniqueName("guard").toLowerCase();
  let backend: PostgresMessageStore;
  let health: StoreHealth;
  let store: MessageStore;
  let locker: pg.Client;

  before(async () => {
    if (skip) return;
    // The backend would wait 5 s; the guard gives up after 400 ms.
    backend = new PostgresMessageStore({ url: serviceUrls.postgres, schema, timeoutMs: 5_000 });
    health = new StoreHealth({ backend: "postgres", probe: () => store.ping(), intervalMs: 100 });
    store = guardStore(backend, { backend: "postgres", timeoutMs: 400, health });
    await store.migrate();
    health.start();
    locker = new pg.Client({ connectionString: serviceUrls.postgres });
    await locker.connect();
  });
  after(async () => {
    if (skip) return;
    health.stop();
    await locker.query("ROLLBACK").catch(() => {});
    await locker.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await locker.end();
    await backend.close();
  });

  test("a send held up by a lock fails at the deadline; once it lands, its retry finds it stored", { skip }, async () => {
    await locker.query("BEGIN");
    await locker.query(`LOCK TABLE "${schema}".messages IN ACCESS EXCLUSIVE MODE`);
    const t0 = Date.now();
    const err = await store.append([input(10)]).then(
      () => assert.fail("acknowledged while the table was locked"),
      (e: unknown) => e,
    );
    const ms = Date.now() - t0;
    assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
    assert.match(err.message, /did not answer append within 400 ms/);
    assert.ok(ms >= 390 && ms < 1_500, `failed at the deadline (${ms} ms)`);
    assert.equal(health.available, false);
    // The transaction was still waiting in PostgreSQL: it commits when the lock goes.
    await locker.query("ROLLBACK");
    await until("the store available again", () => health.available, 3_000);
    const [retry] = await store.append([input(10)]);
    assert.equal(retry.duplicate, true, "the retry (same client_msg_no) found the send stored by the late transaction");
    assert.equal(retry.messageSeq, 1);
    assert.equal(await store.maxSeq("ann@bob", 1), 1, "stored once");
  });
});
