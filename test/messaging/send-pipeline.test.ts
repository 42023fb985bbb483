import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SendPipeline } from "../../src/messaging/send-pipeline.js";
import { SqliteMessageStore } from "../../src/store/message-store-sqlite.js";
import type { AppendInput } from "../../src/store/message-store.js";

const input = (from: string, i: number): AppendInput => ({
  fromUid: from,
  channelId: `${from}@zed`,
  channelType: 1,
  clientMsgNo: `${from}-${i}`,
  header: { noPersist: false, redDot: true, syncOnce: false },
  setting: 0,
  expire: 0,
  topic: "",
  payload: new TextEncoder().encode(`m${i}`),
  timestamp: 1,
});

describe("SendPipeline (group commit) on a real SQLite store", () => {
  let store: SqliteMessageStore;
  /** [time the batch started, its size], as the store saw them. */
  const batches: [number, number][] = [];
  before(async () => {
    store = new SqliteMessageStore({ path: ":memory:" });
    await store.migrate();
    const append = store.append.bind(store);
    store.append = (inputs) => {
      batches.push([performance.now(), inputs.length]);
      return append(inputs);
    };
  });
  after(() => store.close());

  test("appends arriving while a batch waits share it; batches keep their interval; seqs follow send order", async () => {
    const pipeline = new SendPipeline({ store, minBatchIntervalMs: 20 });
    batches.length = 0;
    const results = [];
    // 5 rounds of 10 sends, each round in one tick, the rounds 5 ms apart: faster than one batch per 20 ms.
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < 10; k++) results.push(pipeline.append(input("amy", round * 10 + k)));
      await new Promise((r) => setTimeout(r, 5));
    }
    const stored = await Promise.all(results);
    assert.deepEqual(
      stored.map((r) => r.messageSeq),
      Array.from({ length: 50 }, (_, i) => i + 1),
      "seqs in the order the sends were made",
    );
    assert.equal(
      batches.reduce((n, [, size]) => n + size, 0),
      50,
    );
    assert.ok(batches.length < 5, `rounds 5 ms apart were grouped (${batches.map(([, n]) => n).join(", ")})`);
    for (let i = 1; i < batches.length; i++) {
      // Timers may fire a millisecond early; a batch per tick would be ~5 ms apart here.
      assert.ok(batches[i][0] - batches[i - 1][0] >= 18, `batch ${i} waited for the interval`);
    }
  });

  test("after a quiet spell the first append is written on the next tick, not after the interval", async () => {
    // An interval far longer than the test may take: a first batch that waited for it would show.
    const pipeline = new SendPipeline({ store, minBatchIntervalMs: 60_000, timeoutMs: 120_000 });
    batches.length = 0;
    const t0 = performance.now();
    const first = await pipeline.append(input("bob", 1));
    const elapsed = performance.now() - t0;
    assert.equal(first.messageSeq, 1);
    assert.equal(batches.length, 1);
    assert.ok(elapsed < 1_000, `written at once, not after the 60 s interval (${Math.round(elapsed)} ms)`);
  });
});
