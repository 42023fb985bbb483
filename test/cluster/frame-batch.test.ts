import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  FrameBatchError,
  FrameBatcher,
  FrameSplitter,
  MAX_FRAME_BYTES,
  type OutgoingMessage,
  decodeBatch,
  encodeBatch,
} from "../../src/cluster/frame-batch.js";

const FC = { seed: 7_341, numRuns: 300 };
const b = (s: string) => Buffer.from(s);

/** A batcher whose tick is run by hand, collecting what it sends. */
function manual(maxMessageBytes?: number) {
  const sent: OutgoingMessage[][] = [];
  let pending: (() => void) | undefined;
  const batcher = new FrameBatcher({
    send: (messages) => sent.push(messages),
    maxMessageBytes,
    schedule: (fn) => {
      pending = fn;
    },
  });
  const tick = () => {
    const fn = pending;
    pending = undefined;
    fn?.();
  };
  return { batcher, sent, tick };
}

/** Everything `messages` carry for `target`, split back into frames. */
function receive(messages: OutgoingMessage[], target: string, splitter = new FrameSplitter()): Buffer[] {
  return messages.filter((m) => m.target === target).flatMap((m) => splitter.push(m.message).map((f) => Buffer.from(f)));
}

describe("frame batching", () => {
  test("a batch is a kind byte then u32 BE length-prefixed records", () => {
    const message = encodeBatch([b("ab"), b(""), b("c")]);
    assert.deepEqual([...message], [1, 0, 0, 0, 2, 97, 98, 0, 0, 0, 0, 0, 0, 0, 1, 99]);
    assert.deepEqual(
      decodeBatch(message).map((f) => Buffer.from(f).toString()),
      ["ab", "", "c"],
    );
  });

  test("frames of one tick go out together: one message per target, in publish order", () => {
    const { batcher, sent, tick } = manual();
    batcher.add("t1", b("1a"));
    batcher.add("t2", b("2a"));
    batcher.add("t1", b("1b"));
    assert.equal(sent.length, 0, "nothing leaves before the end of the tick");
    assert.equal(batcher.pendingFrames, 3);
    tick();
    assert.equal(sent.length, 1, "one send per tick");
    assert.deepEqual(
      sent[0].map((m) => m.target),
      ["t1", "t2"],
    );
    assert.deepEqual(receive(sent[0], "t1").map(String), ["1a", "1b"]);
    assert.deepEqual(receive(sent[0], "t2").map(String), ["2a"]);
    batcher.add("t1", b("next"));
    tick();
    assert.equal(sent.length, 2, "the next tick is a new batch");
  });

  test("flush sends now and leaves nothing for the tick", () => {
    const { batcher, sent, tick } = manual();
    batcher.add("t", b("x"));
    batcher.flush();
    assert.equal(sent.length, 1);
    tick();
    batcher.flush();
    assert.equal(sent.length, 1, "nothing pending, nothing sent");
  });

  test("batches are capped: more frames go in more messages, each within the cap", () => {
    const { batcher, sent, tick } = manual(100);
    const frames = Array.from({ length: 50 }, (_, i) => b(`frame-${i}`));
    for (const f of frames) batcher.add("t", f);
    tick();
    assert.ok(sent[0].length > 1);
    for (const m of sent[0]) assert.ok(m.message.length <= 100, `${m.message.length}`);
    assert.deepEqual(receive(sent[0], "t"), frames);
  });

  test("a frame larger than the cap is fragmented and reassembled, order kept around it", () => {
    const { batcher, sent, tick } = manual(1000);
    const big = Buffer.alloc(5000, 7);
    big[4999] = 9;
    batcher.add("t", b("before"));
    batcher.add("t", big);
    batcher.add("t", b("after"));
    tick();
    for (const m of sent[0]) assert.ok(m.message.length <= 1000);
    const splitter = new FrameSplitter();
    const got = receive(sent[0], "t", splitter);
    assert.deepEqual(
      got.map((f) => f.length),
      [6, 5000, 5],
    );
    assert.ok(got[1].equals(big));
    assert.equal(splitter.heldBytes, 0, "nothing held once complete");
  });

  test("a lost fragment drops that frame only; the next frames still arrive", () => {
    const { batcher, sent, tick } = manual(200);
    batcher.add("t", Buffer.alloc(1000, 1));
    batcher.add("t", b("small"));
    batcher.add("t", Buffer.alloc(600, 2));
    tick();
    const messages = sent[0];
    const splitter = new FrameSplitter();
    const got: Buffer[] = [];
    let refused = 0;
    messages.forEach((m, i) => {
      if (i === 2) return; // lost in transit
      try {
        got.push(...splitter.push(m.message).map((f) => Buffer.from(f)));
      } catch (err) {
        assert.ok(err instanceof FrameBatchError);
        refused++;
      }
    });
    assert.ok(refused >= 1);
    assert.deepEqual(
      got.map((f) => f.length),
      [5, 600],
    );
  });

  test("fragments left incomplete are dropped after the timeout or over the byte cap", () => {
    let now = 0;
    // Cap 100: each fragment carries 100 - 17 header bytes.
    const piece = 83;
    const { batcher, sent, tick } = manual(100);
    batcher.add("t", Buffer.alloc(1000));
    batcher.add("t", Buffer.alloc(1000));
    tick();
    const [streamA, streamB] = [sent[0].slice(0, 13), sent[0].slice(13)];
    assert.equal(streamB.length, 13);

    const timed = new FrameSplitter({ now: () => now, fragmentTimeoutMs: 1000 });
    timed.push(streamA[0].message);
    assert.equal(timed.heldBytes, piece);
    now = 5000;
    timed.push(streamB[0].message);
    assert.equal(timed.heldBytes, piece, "stream A expired when B arrived");
    assert.throws(() => timed.push(streamA[1].message), FrameBatchError, "A's rest has nothing to join");

    const capped = new FrameSplitter({ maxPendingBytes: 150 });
    capped.push(streamA[0].message);
    capped.push(streamB[0].message);
    assert.equal(capped.heldBytes, piece, "the oldest stream was dropped to stay under the cap");
    assert.throws(() => capped.push(streamA[1].message), FrameBatchError);
    for (const m of streamB.slice(1, -1)) assert.deepEqual(capped.push(m.message), []);
    assert.equal(capped.push(streamB[12].message)[0].length, 1000, "the newer stream completes");
  });

  test("malformed messages are refused with FrameBatchError", () => {
    const splitter = new FrameSplitter();
    const bad = [
      [],
      [9],
      [1, 0, 0],
      [1, 0, 0, 0, 5, 1, 2],
      [2, 0, 0, 0, 1],
      [2, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 3, 1],
      [2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff],
    ];
    for (const bytes of bad) assert.throws(() => splitter.push(Uint8Array.from(bytes)), FrameBatchError, JSON.stringify(bytes));
    assert.throws(() => new FrameBatcher({ send: () => {}, maxMessageBytes: 10 }), FrameBatchError);
    assert.throws(() => manual().batcher.add("t", { byteLength: MAX_FRAME_BYTES + 1 } as Uint8Array), FrameBatchError);
  });

  test("any frames, any cap: what goes in comes out, in order (fast-check)", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 700 }), { maxLength: 40 }), fc.integer({ min: 64, max: 2048 }), (frames, cap) => {
        const { batcher, sent, tick } = manual(cap);
        for (const f of frames) batcher.add("t", f);
        tick();
        const messages = sent.flat();
        for (const m of messages) assert.ok(m.message.length <= cap);
        assert.deepEqual(
          receive(messages, "t").map((f) => [...f]),
          frames.map((f) => [...f]),
        );
      }),
      FC,
    );
  });

  test("random bytes never crash the splitter (fast-check)", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 60 }), { maxLength: 10 }), (messages) => {
        const splitter = new FrameSplitter();
        for (const m of messages) {
          try {
            splitter.push(m);
          } catch (err) {
            if (!(err instanceof FrameBatchError)) throw err;
          }
        }
      }),
      FC,
    );
  });
});
