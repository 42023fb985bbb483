/**
 * The body of every "a broker fails under traffic" scenario: two processes carry 1:1 and group chat
 * across each other (every message crosses the bus), `outage()` breaks and repairs the broker a
 * quarter of the way through, and then the scenario measures how long until the registry, presence
 * and live delivery are back, syncs, and counts: nothing acknowledged lost, nothing shown twice.
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import type { NodeProcess } from "../../helpers/cluster-process.js";
import { until } from "../../helpers/wait.js";
import { report, scaled } from "./report.js";
import { Traffic } from "./traffic.js";

export interface BrokerOutageOptions {
  /** Scenario name in the report, e.g. "redis killed and restarted empty (2 processes)". */
  name: string;
  /** Short prefix for uids. */
  prefix: string;
  nodes: NodeProcess[];
  /** Breaks the broker and repairs it; resolves once it is repaired. Its figures join the report. */
  outage(): Promise<Record<string, number | string>>;
  /** Sends during the outage may fail and be retried: the backoff's bound. Default 60 attempts. */
  maxAttempts?: number;
}

export async function runBrokerOutage(t: TestContext, o: BrokerOutageOptions): Promise<void> {
  const nodes = o.nodes;
  const [n1, n2] = nodes;
  const nodeOf = new Map<string, NodeProcess>();
  const traffic = new Traffic(
    {
      prefix: o.prefix,
      pairs: scaled(4, 30),
      groupSize: scaled(4, 20),
      perSender: scaled(50, 200),
      gapMs: scaled(80, 80),
      backoff: { baseMs: 200, capMs: 2_000, maxAttempts: o.maxAttempts ?? 60 },
    },
    {
      api: async () => n1,
      // Sender i on one process, its receiver on the other; members alternate: every message crosses the bus.
      firstAddr: (uid, i) => {
        const n = nodes[i % 2];
        nodeOf.set(uid, n);
        return n.tcpAddr;
      },
      route: async (uid) => (nodeOf.get(uid) ?? n1).tcpAddr,
    },
  );
  try {
    await traffic.setup();
    const uids = traffic.all.map((c) => c.uid);
    let outageFigures: Record<string, number | string> = {};
    let ackedBeforeOutage = 0;
    let ackedDuringOutage = 0;
    let outage: Promise<void> | undefined;
    await traffic.run(() => {
      if (!outage && traffic.acked >= traffic.total / 4) {
        ackedBeforeOutage = traffic.acked;
        outage = o.outage().then((figures) => {
          outageFigures = figures;
          ackedDuringOutage = traffic.acked - ackedBeforeOutage;
        });
      }
    });
    await outage;
    assert.ok(outage, "the outage happened during the traffic");

    const registryBackMs = await until(
      "both processes in the registry again",
      async () => (await n1.get("/nodes")).body.length === nodes.length,
      20_000,
      200,
    );
    const presenceBackMs = await until(
      "every user's presence written back",
      async () => {
        const res = await n2.post("/user/onlinestatus", uids);
        return Array.isArray(res.body) && res.body.length === uids.length;
      },
      30_000,
      250,
    );
    // Reachable: each receiver gets a message sent after the repair, live (a RECV, not a sync).
    // Until a node's bus subscription is back a message may only be stored: probe again, bounded.
    const firstLive = Date.now();
    let probes = 0;
    for (let i = 0; i < traffic.senders.length; i++) {
      const s = traffic.senders[i];
      const r = traffic.receivers[i];
      let got = false;
      for (let attempt = 0; attempt < 30 && !got; attempt++) {
        probes++;
        const ack = await s.send(r.uid, 1, `probe ${attempt} after the outage`);
        assert.equal(ack.reasonCode, 1, `probe from ${s.uid} stored`);
        got = await r
          .waitFor(`probe ${attempt} live`, () => r.shown.get(ack.messageId)?.via === "recv", 1_000)
          .then(
            () => true,
            () => false,
          );
      }
      assert.ok(got, `${r.uid} is reachable after the outage (a probe arrived live)`);
    }
    const reachableMs = Date.now() - firstLive;
    await traffic.allConnected(20_000);
    await traffic.finalSync();

    const { lost, seqProblems, figures } = traffic.tally();
    const health = await Promise.all(nodes.map((n) => n.get("/health")));
    report(t, o.name, {
      ...outageFigures,
      acked_before_outage: ackedBeforeOutage,
      acked_during_outage: ackedDuringOutage,
      ...figures,
      registry_back_ms: registryBackMs,
      presence_back_ms: presenceBackMs,
      probes_until_all_reachable: probes,
      all_reachable_ms: reachableMs,
      health: health.map((h) => h.status).join("/"),
    });
    assert.deepEqual(traffic.failures, [], "every send was acknowledged, also during the outage");
    assert.deepEqual(lost, [], "no acknowledged message lost after sync");
    assert.deepEqual(seqProblems, [], "seqs stored once, no holes");
    assert.equal(figures.app_duplicates, 0, "no message shown twice");
    for (const [i, h] of health.entries())
      assert.equal(h.status, 200, `${nodes[i].nodeId} /health after the outage: ${JSON.stringify(h.body)}`);
  } finally {
    traffic.closeAll();
  }
}
