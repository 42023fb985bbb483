import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import postgres from "postgres";
import { ChannelType } from "../../src/store/channel-id.js";
import { PostgresMessageStore } from "../../src/store/message-store-postgres.js";
import type { AppendResult } from "../../src/store/message-store.js";
import { ConfigError } from "../../src/util/errors.js";
import { messageStoreContract, msg } from "../contract/message-store.contract.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";

const skip = await skipUnless("postgres");
const admin = skip ? undefined : postgres(serviceUrls.postgres, { max: 1, onnotice: () => {} });
after(() => admin?.end({ timeout: 5 }));

/** Stores over one fresh schema (each its own pool); cleanup closes them and drops the schema. */
function schemaStores(count: number, maxConnections = 4) {
  const schema = uniqueName("sbstore");
  const stores = Array.from({ length: count }, () => new PostgresMessageStore({ url: serviceUrls.postgres, schema, maxConnections }));
  const cleanup = async () => {
    await Promise.all(stores.map((s) => s.close()));
    await admin!.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
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
