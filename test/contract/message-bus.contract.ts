/**
 * The MessageBus contract, run on every backend (test/cluster/message-bus.test.ts). The factory
 * gives `count` bus instances over one fresh backend namespace (gateway processes sharing one
 * broker) and a cleanup that closes them.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import type { MessageBus } from "../../src/cluster/message-bus.js";
import { InvalidArgumentError, UnavailableError } from "../../src/util/errors.js";

export interface BusCluster {
  buses: MessageBus[];
  cleanup(): Promise<void>;
}

/** How long to wait for frames that should arrive, and to be sure that others do not. */
const ARRIVAL_MS = 5_000;
const QUIET_MS = 150;
const FRAMES_PER_TARGET = 10_000;
const MiB = 1024 * 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nextTick = () => new Promise((resolve) => setImmediate(resolve));
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => Buffer.from(b).toString("utf8");

/** Frames received by one node, copied, with a way to wait for a count or a frame. */
export class Inbox {
  readonly frames: Buffer[] = [];
  private wake: (() => void) | undefined;

  readonly handler = (frame: Uint8Array) => {
    this.frames.push(Buffer.from(frame));
    this.wake?.();
  };

  texts(): string[] {
    return this.frames.map((f) => str(f));
  }

  async waitFor(pred: () => boolean, what: string, timeoutMs = ARRIVAL_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; have ${this.frames.length} frames`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  waitForCount(n: number, timeoutMs = ARRIVAL_MS): Promise<void> {
    return this.waitFor(() => this.frames.length >= n, `${n} frames`, timeoutMs);
  }

  waitForText(s: string): Promise<void> {
    return this.waitFor(() => this.texts().includes(s), JSON.stringify(s));
  }
}

/** A numbered frame from `sender` with a few filler bytes, so records have varied lengths. */
function numbered(sender: number, seq: number): Uint8Array {
  const filler = seq % 37;
  const frame = Buffer.alloc(5 + filler, seq & 0xff);
  frame[0] = sender;
  frame.writeUInt32BE(seq, 1);
  return frame;
}

export function messageBusContract(
  name: string,
  factory: (count: number) => Promise<BusCluster>,
  opts: { skip?: false | string } = {},
): void {
  describe(`MessageBus contract: ${name}`, { skip: opts.skip }, () => {
    /** Bus i hosts node `n${i + 1}`, subscribed before the test body runs. */
    const it = (title: string, count: number, fn: (buses: MessageBus[], inboxes: Inbox[]) => Promise<void>) =>
      test(title, async () => {
        const { buses, cleanup } = await factory(count);
        try {
          const inboxes = buses.map(() => new Inbox());
          await Promise.all(buses.map((bus, i) => bus.subscribe(`n${i + 1}`, inboxes[i].handler)));
          await fn(buses, inboxes);
        } finally {
          await cleanup();
        }
      });

    it("publish to one node reaches that node only", 3, async ([a], [in1, in2, in3]) => {
      a.publish("n2", text("for n2"));
      await in2.waitForText("for n2");
      // Markers on the other nodes' own channels: whatever was misrouted would be there by now.
      a.publish("n1", text("marker"));
      a.publish("n3", text("marker"));
      await in1.waitForText("marker");
      await in3.waitForText("marker");
      await sleep(QUIET_MS);
      assert.deepEqual(in1.texts(), ["marker"]);
      assert.deepEqual(in2.texts(), ["for n2"]);
      assert.deepEqual(in3.texts(), ["marker"]);
    });

    it("broadcast reaches every node once, the sender's own included", 3, async ([a, b], inboxes) => {
      a.broadcast(text("hello all"));
      b.broadcast(text("from b"));
      for (const inbox of inboxes) await inbox.waitForCount(2);
      await sleep(QUIET_MS);
      for (const inbox of inboxes) assert.deepEqual(inbox.texts().sort(), ["from b", "hello all"]);
    });

    it("one bus can host several nodes: each gets its own frames and every broadcast", 2, async ([a, b], [in1]) => {
      const extra = new Inbox();
      await a.subscribe("n1-bis", extra.handler);
      b.publish("n1-bis", text("direct"));
      b.broadcast(text("all"));
      await extra.waitForCount(2);
      await in1.waitForCount(1);
      await sleep(QUIET_MS);
      assert.deepEqual(extra.texts().sort(), ["all", "direct"]);
      assert.deepEqual(in1.texts(), ["all"]);
    });

    it(`keeps the order of ${FRAMES_PER_TARGET} frames per target and sender, none lost or doubled`, 3, async ([a, b], [, in2, in3]) => {
      for (let seq = 0; seq < FRAMES_PER_TARGET; seq++) {
        a.publish("n2", numbered(1, seq));
        a.publish("n3", numbered(1, seq));
        b.publish("n2", numbered(2, seq));
        // Spread over many ticks too, so batches of every size occur.
        if (seq % 700 === 0) await nextTick();
      }
      await Promise.all([a.flush(), b.flush()]);
      await in2.waitForCount(2 * FRAMES_PER_TARGET);
      await in3.waitForCount(FRAMES_PER_TARGET);
      await sleep(QUIET_MS);
      assert.equal(in2.frames.length, 2 * FRAMES_PER_TARGET, "no duplicates on n2");
      assert.equal(in3.frames.length, FRAMES_PER_TARGET, "no duplicates on n3");
      for (const [inbox, sender] of [
        [in2, 1],
        [in2, 2],
        [in3, 1],
      ] as const) {
        const got = inbox.frames.filter((f) => f[0] === sender);
        assert.equal(got.length, FRAMES_PER_TARGET);
        got.forEach((f, i) => {
          if (f.readUInt32BE(1) !== i) assert.fail(`sender ${sender}: frame ${i} has seq ${f.readUInt32BE(1)}`);
          assert.equal(Buffer.compare(f, Buffer.from(numbered(sender, i))), 0);
        });
      }
    });

    it("carries empty frames, binary bytes and 1 MiB frames intact and in order", 2, async ([a], [in1, in2]) => {
      const big = randomBytes(MiB);
      const bigger = randomBytes(MiB + 12_345);
      const broadcastBig = randomBytes(MiB);
      const binary = Buffer.from([0, 255, 0, 13, 10, 0xc3, 0x28]);
      for (const frame of [new Uint8Array(0), big, binary, bigger, new Uint8Array(0)]) a.publish("n2", frame);
      a.broadcast(broadcastBig);
      await in2.waitForCount(6);
      await in1.waitForCount(1);
      // The broadcast may land anywhere around the direct frames; those keep their order.
      const direct = in2.frames.filter((f) => !f.equals(broadcastBig));
      assert.deepEqual(
        direct.map((f) => f.length),
        [0, MiB, binary.length, MiB + 12_345, 0],
      );
      assert.ok(direct[1].equals(big) && direct[2].equals(binary) && direct[3].equals(bigger), "bytes intact");
      assert.equal(in2.frames.filter((f) => f.equals(broadcastBig)).length, 1);
      assert.ok(in1.frames[0].equals(broadcastBig), "broadcast of 1 MiB intact");
    });

    it("flush resolves once what was published has left", 2, async ([a], [, in2]) => {
      assert.equal(await a.flush(), undefined, "flush with nothing pending");
      for (let i = 0; i < 100; i++) a.publish("n2", text(`m${i}`));
      await a.flush();
      await in2.waitForCount(100);
      assert.deepEqual(
        in2.texts(),
        Array.from({ length: 100 }, (_, i) => `m${i}`),
      );
    });

    it("a frame to a node nobody subscribed is dropped without harm", 2, async ([a], [, in2]) => {
      a.publish("nobody", text("lost"));
      a.publish("n2", text("after"));
      await in2.waitForText("after");
      assert.deepEqual(in2.texts(), ["after"]);
    });

    it("a throwing handler does not stop later frames", 2, async ([a, b]) => {
      const got: string[] = [];
      await b.subscribe("fragile", (frame) => {
        got.push(str(frame));
        if (got.length === 1) throw new Error("handler bug");
      });
      a.publish("fragile", text("one"));
      a.publish("fragile", text("two"));
      await a.flush();
      const deadline = Date.now() + ARRIVAL_MS;
      while (got.length < 2 && Date.now() < deadline) await sleep(10);
      assert.deepEqual(got, ["one", "two"]);
    });

    it("close stops delivery to that bus; the others keep going", 3, async ([a, b], [in1, in2, in3]) => {
      await b.close();
      a.publish("n2", text("to closed"));
      a.broadcast(text("after close"));
      a.publish("n3", text("marker"));
      await in1.waitForText("after close");
      await in3.waitForText("marker");
      await sleep(QUIET_MS);
      assert.deepEqual(in2.texts(), []);
      assert.throws(() => b.publish("n1", text("x")), UnavailableError);
      assert.throws(() => b.broadcast(text("x")), UnavailableError);
      await assert.rejects(() => b.subscribe("n9", () => {}), UnavailableError);
      await b.close();
    });

    it("frames published right before close still leave", 2, async ([a], [, in2]) => {
      a.publish("n2", text("last words"));
      await a.close();
      await in2.waitForText("last words");
    });

    it("refuses bad arguments", 1, async ([a]) => {
      await assert.rejects(() => a.subscribe("n1", () => {}), InvalidArgumentError, "a node subscribes once");
      await assert.rejects(() => a.subscribe("", () => {}), InvalidArgumentError);
      assert.throws(() => a.publish("", text("x")), InvalidArgumentError);
      assert.throws(() => a.publish("n1", "not bytes" as unknown as Uint8Array), InvalidArgumentError);
    });
  });
}
