/**
 * Fault test: the broker restarts mid-traffic. A private redis-server (registry, presence and bus), or
 * separately a private nats-server (the bus; registry and presence on the shared Redis), is killed
 * with SIGKILL while two processes carry 1:1 and group chat across them, stays down for a moment,
 * and comes back empty. Pass: the nodes re-announce and resubscribe, presence is written back so
 * every user is reachable again (a message sent after the restart arrives live), and after a sync
 * nothing acknowledged is lost or shown twice.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { NodeProcess } from "../helpers/cluster-process.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";
import { sleep, until } from "../helpers/wait.js";
import { type Broker, type BrokerKind, dropClusterSchema, freePort, startBroker, startCluster } from "./helpers/procs.js";
import { report, scaled } from "./helpers/report.js";
import { Traffic } from "./helpers/traffic.js";

const OUTAGE_MS = scaled(1_500, 5_000);

function scenario(kind: BrokerKind): void {
  describe(`fault: a private ${kind} restarts mid-traffic under 2 processes`, { timeout: scaled(90_000, 600_000) }, async () => {
    const skip = (await skipUnless("redis")) || (await skipUnless("postgres"));
    const clusterName = uniqueName(`fb${kind[0]}`).toLowerCase();
    let broker: Broker | undefined;
    let nodes: NodeProcess[] = [];
    let traffic: Traffic | undefined;

    before(async () => {
      if (skip) return;
      broker = await startBroker(kind, await freePort());
      const redis = kind === "redis" ? broker.url : serviceUrls.redis;
      const nats = kind === "nats" ? broker.url : undefined;
      nodes = await startCluster(2, `b${kind[0]}`, clusterName, { redis, nats });
    });
    after(async () => {
      traffic?.closeAll();
      await Promise.all(nodes.map((n) => n.stop()));
      await broker?.kill9();
      if (skip) return;
      await dropClusterSchema(clusterName);
    });

    test("nodes resubscribe, presence is rebuilt, users stay reachable, nothing acknowledged is lost", { skip }, async (t) => {
      const [n1, n2] = nodes;
      const nodeOf = new Map<string, NodeProcess>();
      traffic = new Traffic(
        {
          prefix: `b${kind[0]}`,
          pairs: scaled(4, 30),
          groupSize: scaled(4, 20),
          perSender: scaled(50, 200),
          gapMs: scaled(80, 80),
          backoff: { baseMs: 200, capMs: 2_000, maxAttempts: 60 },
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
      const tr = traffic;
      await tr.setup();
      const uids = tr.all.map((c) => c.uid);

      let restartedAt = 0;
      let ackedBeforeOutage = 0;
      let ackedDuringOutage = 0;
      let restart: Promise<void> | undefined;
      const running = tr.run(() => {
        if (!restart && tr.acked >= tr.total / 4) {
          ackedBeforeOutage = tr.acked;
          restart = (async () => {
            const b = broker!;
            await b.kill9();
            await sleep(OUTAGE_MS);
            ackedDuringOutage = tr.acked - ackedBeforeOutage;
            broker = await startBroker(kind, b.port);
            restartedAt = Date.now();
          })();
        }
      });
      await running;
      await restart;
      assert.ok(restartedAt > 0, `the ${kind} server was restarted during the traffic`);

      const registryBackMs = await until(
        "both processes in the registry again",
        async () => (await n1.get("/nodes")).body.length === 2,
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
      // Reachable: each receiver gets a message sent after the restart, live (a RECV, not a sync).
      // Until a node's bus subscription is back a message may only be stored: probe again, bounded.
      const firstLive = Date.now();
      let probes = 0;
      for (let i = 0; i < tr.senders.length; i++) {
        const s = tr.senders[i];
        const r = tr.receivers[i];
        let got = false;
        for (let attempt = 0; attempt < 30 && !got; attempt++) {
          probes++;
          const ack = await s.send(r.uid, 1, `probe ${attempt} after the ${kind} restart`);
          assert.equal(ack.reasonCode, 1, `probe from ${s.uid} stored`);
          got = await r
            .waitFor(`probe ${attempt} live`, () => r.shown.get(ack.messageId)?.via === "recv", 1_000)
            .then(
              () => true,
              () => false,
            );
        }
        assert.ok(got, `${r.uid} is reachable after the ${kind} restart (a probe arrived live)`);
      }
      const reachableMs = Date.now() - firstLive;
      await tr.allConnected(20_000);
      await tr.finalSync();

      const { lost, seqProblems, figures } = tr.tally();
      const health = await Promise.all(nodes.map((n) => n.get("/health")));
      report(t, `${kind} killed and restarted empty (2 processes)`, {
        outage_ms: OUTAGE_MS,
        acked_before_outage: ackedBeforeOutage,
        acked_during_outage: ackedDuringOutage,
        ...figures,
        registry_back_ms: registryBackMs,
        presence_back_ms: presenceBackMs,
        probes_until_all_reachable: probes,
        all_reachable_ms: reachableMs,
        health: health.map((h) => h.status).join("/"),
      });
      assert.deepEqual(tr.failures, [], "every send was acknowledged, also during the outage");
      assert.deepEqual(lost, [], "no acknowledged message lost after sync");
      assert.deepEqual(seqProblems, [], "seqs stored once, no holes");
      assert.equal(figures.app_duplicates, 0, "no message shown twice");
      for (const [i, h] of health.entries())
        assert.equal(h.status, 200, `${nodes[i].nodeId} /health after the restart: ${JSON.stringify(h.body)}`);
    });
  });
}

scenario("redis");
scenario("nats");
