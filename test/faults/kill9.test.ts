/**
 * Fault test: kill -9 a gateway process mid-traffic. Three `switchboard serve` processes share Redis
 * and PostgreSQL; 1:1 pairs and a group chat across all three while one process is SIGKILLed.
 * Its users reconnect through the route API of a live process (full-jitter backoff), resend what
 * had no SENDACK with the same client_msg_no, and sync from the last seq they hold. Pass: every
 * acknowledged message shown by every receiver, none shown twice, seqs stored once without holes.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { NodeProcess } from "../helpers/cluster-process.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";
import { until } from "../helpers/wait.js";
import { dropClusterSchema, startCluster } from "./helpers/procs.js";
import { report, scaled } from "./helpers/report.js";
import { Traffic } from "./helpers/traffic.js";

describe(
  "fault: kill -9 a gateway process mid-traffic (3 processes on Redis + PostgreSQL)",
  { timeout: scaled(90_000, 600_000) },
  async () => {
    const skip = (await skipUnless("redis")) || (await skipUnless("postgres"));
    const clusterName = uniqueName("fk9").toLowerCase();
    let nodes: NodeProcess[] = [];
    const killed = new Set<NodeProcess>();
    let traffic: Traffic | undefined;

    before(async () => {
      if (skip) return;
      nodes = await startCluster(3, "k", clusterName);
    });
    after(async () => {
      traffic?.closeAll();
      await Promise.all(nodes.map((n) => n.stop()));
      if (skip) return;
      await dropClusterSchema(clusterName);
    });

    test("1:1 and group: after reconnect + sync, 0 acknowledged messages lost, 0 shown twice", { skip }, async (t) => {
      const live = () => nodes.filter((n) => !killed.has(n));
      // Any live router answers; a dead one refuses at once and the next is asked (as an app with several API addresses).
      const firstLive = async () => {
        for (const n of nodes) {
          try {
            await n.get("/nodes");
            return n;
          } catch {}
        }
        throw new Error("no router answers");
      };
      traffic = new Traffic(
        {
          prefix: "k9",
          pairs: scaled(6, 40),
          groupSize: scaled(6, 30),
          perSender: scaled(30, 150),
          gapMs: scaled(40, 40),
          backoff: { baseMs: 200, capMs: 2_000, maxAttempts: 60 },
        },
        {
          api: firstLive,
          // Spread the users over the three processes, so the victim holds senders, receivers and members.
          firstAddr: (_uid, i) => nodes[i % 3].tcpAddr,
          route: async (uid) => {
            const n = await firstLive();
            const res = await n.get(`/route?uid=${encodeURIComponent(uid)}`);
            if (res.status !== 200) throw new Error(`/route ${res.status}`);
            return res.body.tcp_addr as string;
          },
        },
      );
      const tr = traffic;
      await tr.setup();
      const victim = nodes[2];
      let killedAt = 0;
      let killing: Promise<void> | undefined;
      const running = tr.run(() => {
        // Mid-traffic: once a third of all messages are acknowledged.
        if (!killing && tr.acked >= tr.total / 3) {
          killedAt = Date.now();
          killed.add(victim);
          killing = victim.kill9();
        }
      });
      await running;
      await killing;
      assert.ok(killedAt > 0, "the victim process was killed during the traffic");
      await tr.allConnected(30_000);
      const reconnectedMs = Math.max(...tr.all.flatMap((c) => c.connectedAt.filter((at) => at > killedAt)), killedAt) - killedAt;
      // The dead process leaves the registry within its TTL.
      await until("the dead process dropped from /nodes", async () => (await live()[0].get("/nodes")).body.length === 2, 15_000, 200);
      await tr.finalSync();

      const { lost, seqProblems, figures } = tr.tally();
      report(t, "kill -9 one of 3 processes (1:1 + group)", {
        pairs: tr.plan.pairs,
        group_members: tr.plan.groupSize,
        ...figures,
        all_reconnected_ms: reconnectedMs,
      });
      assert.deepEqual(tr.failures, [], "every send was acknowledged (retried across the reconnect where needed)");
      assert.equal(tr.acked, tr.total, "acknowledged = sent");
      assert.deepEqual(lost, [], "no acknowledged message lost after reconnect + sync");
      assert.deepEqual(seqProblems, [], "each channel's acknowledged seqs are 1..n: stored once, no holes");
      assert.equal(figures.app_duplicates, 0, "no message shown twice under two ids (server de-dup by client_msg_no)");
      const moved = tr.all.filter((c) => c.stats.connects > 1).length;
      assert.ok(moved >= tr.all.length / 4, `the victim's users reconnected elsewhere (${moved} of ${tr.all.length} reconnected)`);
      for (const n of live()) {
        const health = await n.get("/health");
        assert.equal(health.status, 200, `${n.nodeId} healthy after the kill: ${JSON.stringify(health.body)}`);
      }
    });
  },
);
