/**
 * NatsMessageBus on a 3-server NATS cluster (test/helpers/nats-cluster.ts) whose servers do not
 * advertise each other: a bus only knows the servers of its --nats list. A server is killed under
 * traffic; the bus on it must move to another server of its list and frames must flow again.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { NatsMessageBus, natsServers } from "../../src/cluster/message-bus-nats.js";
import { InvalidArgumentError } from "../../src/util/errors.js";
import { Inbox } from "../contract/message-bus.contract.js";
import { type NatsClusterHandle, natsClusterUnavailable, startNatsCluster } from "../helpers/nats-cluster.js";
import { uniqueName } from "../helpers/services.js";
import { until } from "../helpers/wait.js";

/** How long a bus may take to be back on another server, and frames to flow again. */
const RECOVERY_MS = 5_000;

describe("natsServers (the --nats value)", () => {
  test("splits comma-separated URLs, trims, drops empties, flattens arrays", () => {
    assert.deepEqual(natsServers("nats://a:1"), ["nats://a:1"]);
    assert.deepEqual(natsServers(" nats://a:1 , nats://b:2,,"), ["nats://a:1", "nats://b:2"]);
    assert.deepEqual(natsServers(["nats://a:1,nats://b:2", "nats://c:3"]), ["nats://a:1", "nats://b:2", "nats://c:3"]);
  });

  test("a bus with no server at all is refused", () => {
    assert.throws(() => new NatsMessageBus({ url: " , ", prefix: "p" }), InvalidArgumentError);
    assert.throws(() => new NatsMessageBus({ url: [], prefix: "p" }), InvalidArgumentError);
  });
});

/** Publishes numbered frames from `from` to `to` every few ms until stopped. */
function traffic(from: NatsMessageBus, to: string, tag: string) {
  let seq = 0;
  const timer = setInterval(() => from.publish(to, Buffer.from(`${tag}:${seq++}`)), 5);
  return {
    /** The seq the next frame will carry. */
    next: () => seq,
    stop: () => clearInterval(timer),
  };
}

/** The seqs of `tag` frames an inbox got, in arrival order. */
const seqsOf = (inbox: Inbox, tag: string) =>
  inbox
    .texts()
    .filter((t) => t.startsWith(`${tag}:`))
    .map((t) => Number(t.slice(tag.length + 1)));

describe("NatsMessageBus on a 3-server NATS cluster", { skip: natsClusterUnavailable(), timeout: 30_000 }, () => {
  let cluster: NatsClusterHandle;
  const host = (i: number) => `127.0.0.1:${cluster.servers[i].port}`;
  /** The cluster's URLs, starting at server `first`; with noRandomize the bus connects there. */
  const listFrom = (first: number) => [...cluster.urls.slice(first), ...cluster.urls.slice(0, first)].join(",");
  const bus = (first: number, prefix: string) =>
    new NatsMessageBus({ url: listFrom(first), prefix, connectionOptions: { noRandomize: true } });

  before(async () => {
    const t0 = Date.now();
    cluster = await startNatsCluster(3, { advertise: false });
    console.log(`# NATS cluster of 3 ready in ${Date.now() - t0} ms`);
  });
  after(async () => {
    await cluster?.stop();
  });

  test("a server killed mid-traffic: its bus reconnects to another of its list, frames flow again", async (t) => {
    const prefix = uniqueName("sbtest_bus");
    const a = bus(0, prefix);
    const b = bus(1, prefix);
    const ab = traffic(a, "nb", "ab");
    const ba = traffic(b, "na", "ba");
    try {
      const inA = new Inbox();
      const inB = new Inbox();
      await a.subscribe("na", inA.handler);
      await b.subscribe("nb", inB.handler);
      assert.equal(a.server, host(0), "a is on server 1");
      assert.equal(b.server, host(1), "b is on server 2");
      await inB.waitFor(() => seqsOf(inB, "ab").length > 0, "a's frames on b before the kill");
      await inA.waitFor(() => seqsOf(inA, "ba").length > 0, "b's frames on a before the kill");

      const killedAt = Date.now();
      await cluster.servers[0].kill9();
      const movedMs = await until("a connected to another server", () => a.server !== undefined && a.server !== host(0), RECOVERY_MS, 10);
      assert.ok([host(1), host(2)].includes(a.server!), `a moved to a server of its list (${a.server})`);
      assert.equal(b.server, host(1), "b stayed where it was");

      // Frames published from now on must arrive, both ways.
      const abAfter = ab.next();
      const baAfter = ba.next();
      await inB.waitFor(() => seqsOf(inB, "ab").some((s) => s >= abAfter), "a's frames on b after the reconnect", RECOVERY_MS);
      await inA.waitFor(() => seqsOf(inA, "ba").some((s) => s >= baAfter), "b's frames on a after the reconnect", RECOVERY_MS);
      const flowingMs = Date.now() - killedAt;

      for (const [inbox, tag] of [
        [inB, "ab"],
        [inA, "ba"],
      ] as const) {
        const seqs = seqsOf(inbox, tag);
        assert.ok(
          seqs.every((s, i) => i === 0 || s > seqs[i - 1]),
          `${tag}: frames in order, none doubled`,
        );
      }
      // At most once: frames in flight at the kill may be lost, but what a published while
      // reconnecting (~100 frames over the ~0.5 s) was queued and sent after.
      const abSeqs = seqsOf(inB, "ab");
      const lostAb = abSeqs[abSeqs.length - 1] - abSeqs[0] + 1 - abSeqs.length;
      assert.ok(lostAb <= 10, `a's frames published while it reconnected were queued, not dropped (lost ${lostAb})`);
      t.diagnostic(
        `a moved to ${a.server} ${movedMs} ms after the kill; frames flowing both ways after ${flowingMs} ms; a→b lost ${lostAb}`,
      );
    } finally {
      ab.stop();
      ba.stop();
      await a.close();
      await b.close();
    }
  });

  test("the killed server restarted rejoins the routes and carries traffic again", async () => {
    // The previous test may have left server 1 down (or the test runs alone): it is down or up here.
    await cluster.servers[0].restart();
    const prefix = uniqueName("sbtest_bus");
    const a = bus(0, prefix);
    const c = bus(2, prefix);
    try {
      const inA = new Inbox();
      const inC = new Inbox();
      await a.subscribe("na", inA.handler);
      await c.subscribe("nc", inC.handler);
      assert.equal(a.server, host(0), "a is on the restarted server");
      assert.equal(c.server, host(2));
      // Interest crosses the routes asynchronously: publish until one arrives.
      let n = 0;
      await inC.waitFor(
        () => {
          a.publish("nc", Buffer.from(`to c ${n++}`));
          return inC.frames.length > 0;
        },
        "a frame from the restarted server to server 3",
        RECOVERY_MS,
      );
      c.broadcast(Buffer.from("to all"));
      await inA.waitForText("to all");
    } finally {
      await a.close();
      await c.close();
    }
  });
});
