import assert from "node:assert/strict";
import net from "node:net";
import { after, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { ChannelType } from "../../src/store/channel-id.js";
import { PostgresMessageStore, isPostgresUnavailable } from "../../src/store/message-store-postgres.js";
import type { AppendResult } from "../../src/store/message-store.js";
import { ConfigError, UnavailableError } from "../../src/util/errors.js";
import { messageStoreContract, msg } from "../contract/message-store.contract.js";
import { type PrivatePostgres, privatePostgresUnavailable, startPrivatePostgres } from "../helpers/private-postgres.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";

const skip = await skipUnless("postgres");
const admin = skip ? undefined : new pg.Pool({ connectionString: serviceUrls.postgres, max: 1 });
after(() => admin?.end());

/** Stores over one fresh schema (each its own pool); cleanup closes them and drops the schema. */
function schemaStores(count: number, maxConnections = 4) {
  const schema = uniqueName("sbstore");
  const stores = Array.from({ length: count }, () => new PostgresMessageStore({ url: serviceUrls.postgres, schema, maxConnections }));
  const cleanup = async () => {
    await Promise.all(stores.map((s) => s.close()));
    await admin!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  };
  return { schema, stores, cleanup };
}

messageStoreContract(
  "postgres",
  async () => {
    const { stores, cleanup } = schemaStores(1);
    return { store: stores[0], cleanup };
  },
  { skip },
);

describe("PostgresMessageStore across processes", { skip }, () => {
  const G = ChannelType.Group;

  async function withStores(count: number, fn: (stores: PostgresMessageStore[]) => Promise<void>): Promise<void> {
    const { stores, cleanup } = schemaStores(count);
    try {
      // Migrating concurrently is part of the test: processes start together.
      await Promise.all(stores.map((s) => s.migrate()));
      await fn(stores);
    } finally {
      await cleanup();
    }
  }

  test("concurrent appends from two pools give unique, gap-free seqs per channel", async () => {
    await withStores(2, async ([a, b]) => {
      // Every batch touches both channels, in varying order: lock ordering is exercised too.
      const calls = Array.from({ length: 40 }, (_, k) => {
        const store = k % 2 ? a : b;
        const batch = Array.from({ length: 10 }, (_, i) => msg(`u${k}`, (i + k) % 3 ? "hot" : "warm", G));
        return store.append(batch).then((results) => results.map((r, i) => ({ ...r, channelId: batch[i].channelId })));
      });
      const results = (await Promise.all(calls)).flat();
      assert.equal(results.length, 400);
      assert.equal(new Set(results.map((r) => r.messageId)).size, 400, "message ids are unique");
      for (const ch of ["hot", "warm"]) {
        const mine = results.filter((r) => r.channelId === ch);
        const seqs = mine.map((r) => r.messageSeq).sort((x, y) => x - y);
        assert.deepEqual(
          seqs,
          Array.from({ length: mine.length }, (_, i) => i + 1),
          `${ch}: seqs 1..n, each once`,
        );
        assert.equal(await a.maxSeq(ch, G), mine.length);
        const { messages } = await b.getMessages({ channelId: ch, channelType: G, startSeq: 1, endSeq: 0, limit: 1000, pullMode: 1 });
        assert.equal(messages.length, mine.length);
        assert.ok(
          messages.every((m, i) => i === 0 || m.messageId > messages[i - 1].messageId),
          `${ch}: ids grow with seq`,
        );
      }
    });
  });

  test("a send retried concurrently through two pools is stored once", async () => {
    await withStores(2, async ([a, b]) => {
      const m = msg("alice", "g1", G, { clientMsgNo: "retry-me" });
      // The same key aimed at another channel too: a race settled by the unique index alone.
      const elsewhere = { ...m, channelId: "g2" };
      const calls: Promise<AppendResult[]>[] = [];
      for (let i = 0; i < 12; i++) calls.push((i % 2 ? a : b).append([i % 3 === 2 ? elsewhere : m]));
      const results = (await Promise.all(calls)).flat();
      assert.equal(results.filter((r) => !r.duplicate).length, 1, "exactly one is new");
      assert.equal(new Set(results.map((r) => `${r.messageId}/${r.messageSeq}/${r.timestamp}`)).size, 1, "all share its ids");
      const rows = async (ch: string) =>
        (await a.getMessages({ channelId: ch, channelType: G, startSeq: 0, endSeq: 0, limit: 100, pullMode: 0 })).messages.length;
      assert.equal((await rows("g1")) + (await rows("g2")), 1, "one row");
      assert.equal((await a.maxSeq("g1", G)) + (await a.maxSeq("g2", G)), 1, "no seq burnt by the losers");
    });
  });

  test("a bad schema name is a ConfigError", () => {
    assert.throws(() => new PostgresMessageStore({ url: serviceUrls.postgres, schema: 'x"; DROP TABLE y; --' }), ConfigError);
  });
});

describe("isPostgresUnavailable", () => {
  const coded = (code: string, message = "x") => Object.assign(new Error(message), { code });
  test("connection-level failures and timeouts are unavailability", () => {
    for (const code of ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EPIPE", "EHOSTUNREACH", "08006", "08P01"]) {
      assert.ok(isPostgresUnavailable(coded(code)), code);
    }
    for (const code of ["57P01", "57P02", "57P03", "53300", "57014"]) assert.ok(isPostgresUnavailable(coded(code)), code);
    for (const message of [
      "Connection terminated unexpectedly",
      "Connection terminated due to connection timeout",
      "Query read timeout",
      "timeout exceeded when trying to connect",
      "Client has encountered a connection error and is not queryable",
      "Cannot use a pool after calling end on the pool",
    ]) {
      assert.ok(isPostgresUnavailable(new Error(message)), message);
    }
    assert.ok(isPostgresUnavailable(new AggregateError([coded("ECONNREFUSED"), coded("ECONNREFUSED")])), "every address refused");
  });

  test("errors in the statement itself are not", () => {
    for (const err of [coded("23505"), coded("40P01"), coded("42P01"), new TypeError("x"), new Error("boom"), null, "ECONNREFUSED"]) {
      assert.equal(isPostgresUnavailable(err), false, String(err));
    }
  });
});

/** A TCP relay in front of a server that can stop passing bytes (a hung server or network). */
async function freezableRelay(to: URL) {
  let frozen = false;
  const held: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const relay = (from: net.Socket, into: net.Socket) =>
    from.on("data", (chunk) => (frozen ? held.push(() => into.write(chunk)) : into.write(chunk)));
  const server = net.createServer((down) => {
    const up = net.connect(Number(to.port), to.hostname);
    for (const [a, b] of [
      [down, up],
      [up, down],
    ]) {
      sockets.add(a);
      relay(a, b);
      a.on("error", () => b.destroy());
      a.on("close", () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(to);
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
      for (const write of held.splice(0)) write();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** How a call settled and how long it took. */
async function settle(call: () => Promise<unknown>): Promise<{ ok: boolean; err?: unknown; ms: number }> {
  const started = performance.now();
  try {
    await call();
    return { ok: true, ms: performance.now() - started };
  } catch (err) {
    return { ok: false, err, ms: performance.now() - started };
  }
}

describe("PostgresMessageStore when PostgreSQL hangs or goes away", { skip, timeout: 120_000 }, () => {
  const G = ChannelType.Group;
  const timeoutMs = 1000;

  test("a server that accepts but never answers: calls fail with UnavailableError within the timeout", async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as net.AddressInfo;
    const store = new PostgresMessageStore({ url: `postgres://postgres@127.0.0.1:${port}/postgres`, schema: "silent", timeoutMs });
    try {
      const results = await Promise.all([settle(() => store.ping()), settle(() => store.append([msg("alice", "g1", G)]))]);
      for (const r of results) {
        assert.ok(r.err instanceof UnavailableError, `UnavailableError, got ${String(r.err)}`);
        assert.ok(r.ms < timeoutMs + 1000, `settled in ${Math.round(r.ms)} ms`);
      }
    } finally {
      await store.close();
      silent.close();
    }
  });

  test("a connection that stops answering mid-use: the call times out, the connection is dropped, later calls work", async () => {
    const relay = await freezableRelay(new URL(serviceUrls.postgres));
    const schema = uniqueName("sbhang");
    const store = new PostgresMessageStore({ url: relay.url, schema, maxConnections: 2, timeoutMs });
    try {
      await store.migrate();
      await store.append([msg("alice", "g1", G)]);
      relay.freeze();
      const frozen = await Promise.all([settle(() => store.ping()), settle(() => store.append([msg("alice", "g1", G)]))]);
      for (const r of frozen) {
        assert.ok(r.err instanceof UnavailableError, `UnavailableError, got ${String(r.err)}`);
        assert.ok(r.ms < timeoutMs + 1000, `settled in ${Math.round(r.ms)} ms`);
      }
      relay.thaw();
      await store.ping();
      const [r] = await store.append([msg("alice", "g1", G)]);
      assert.ok(r.messageSeq >= 2, "appends go on after the hang");
    } finally {
      await store.close();
      await relay.close();
      await admin!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  const noPrivate = privatePostgresUnavailable();
  describe("a private server stopped with pg_ctl -m immediate", { skip: noPrivate }, () => {
    let server: PrivatePostgres | undefined;
    after(() => server?.destroy());

    test("every call settles in bounded time, nothing escapes to the process, appends resume after a restart", async (t) => {
      server = await startPrivatePostgres();
      const store = new PostgresMessageStore({ url: server.url, schema: "outage", maxConnections: 4, timeoutMs });
      const escaped: unknown[] = [];
      const onEscape = (err: unknown) => escaped.push(err);
      process.on("uncaughtException", onEscape);
      process.on("unhandledRejection", onEscape);
      try {
        await store.migrate();
        // Six callers (more than the pool holds) append and ping in a loop across the outage.
        const acked: Array<AppendResult & { channelId: string; payload: string }> = [];
        const outcomes: Array<{ ok: boolean; err?: unknown; ms: number }> = [];
        let running = true;
        const caller = async (k: number) => {
          for (let i = 0; running; i++) {
            const m = msg(`u${k}`, `c${k % 2}`, G);
            const r = await settle(async () => {
              if (i % 3 === 2) return store.ping();
              const [res] = await store.append([m]);
              acked.push({ ...res, channelId: m.channelId, payload: Buffer.from(m.payload).toString() });
            });
            outcomes.push(r);
            if (!r.ok) await delay(20);
          }
        };
        const callers = Array.from({ length: 6 }, (_, k) => caller(k));
        await delay(300);
        const before = acked.length;
        assert.ok(before > 0, "appends succeed before the outage");
        await server.stop("immediate");
        await delay(timeoutMs + 500);
        running = false;
        await Promise.all(callers);

        assert.deepEqual(escaped, [], "no error reached the process");
        const failed = outcomes.filter((o) => !o.ok);
        assert.ok(failed.length > 0, "calls failed while the server was down");
        for (const o of failed) assert.ok(o.err instanceof UnavailableError, `failed with UnavailableError, got ${String(o.err)}`);
        const slowest = Math.max(...outcomes.map((o) => o.ms));
        assert.ok(slowest < timeoutMs + 1000, `every call settled within timeoutMs + 1 s (slowest ${Math.round(slowest)} ms)`);
        t.diagnostic(`${outcomes.length} calls across the outage, ${failed.length} failed; slowest ${Math.round(slowest)} ms`);
        await assert.rejects(store.ping(), UnavailableError, "still down");

        await server.start();
        const restarted = performance.now();
        let resumed: AppendResult[] | undefined;
        while (!resumed && performance.now() - restarted < 5000) {
          resumed = await store.append([msg("alice", "c0", G)]).catch(() => undefined);
          if (!resumed) await delay(100);
        }
        assert.ok(resumed, "appends succeed within 5 s of the restart");
        await store.ping();

        // Every append acknowledged before the outage is stored, bytes and all.
        for (const channelId of ["c0", "c1"]) {
          const mine = acked.filter((a) => a.channelId === channelId);
          const stored = await store.getMessagesBySeq(
            channelId,
            G,
            mine.map((a) => a.messageSeq),
          );
          assert.equal(stored.length, mine.length, `${channelId}: every acknowledged append is stored`);
          const bySeq = new Map(stored.map((m) => [m.messageSeq, Buffer.from(m.payload).toString()]));
          for (const a of mine) assert.equal(bySeq.get(a.messageSeq), a.payload);
        }
        assert.deepEqual(escaped, [], "no error reached the process after the restart");
      } finally {
        process.off("uncaughtException", onEscape);
        process.off("unhandledRejection", onEscape);
        await store.close();
      }
    });
  });
});
