/**
 * Fault test: the broker restarts mid-traffic. A private redis-server (registry, presence and bus), or
 * separately a private nats-server (the bus; registry and presence on the shared Redis), is killed
 * with SIGKILL while two processes carry 1:1 and group chat across them, stays down for a moment,
 * and comes back empty. Pass: the nodes re-announce and resubscribe, presence is written back so
 * every user is reachable again (a message sent after the restart arrives live), and after a sync
 * nothing acknowledged is lost or shown twice.
 */
import { after, before, describe, test } from "node:test";
import type { NodeProcess } from "../helpers/cluster-process.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";
import { sleep } from "../helpers/wait.js";
import { runBrokerOutage } from "./helpers/broker-outage.js";
import { type Broker, type BrokerKind, dropClusterSchema, freePort, startBroker, startCluster } from "./helpers/procs.js";
import { scaled } from "./helpers/report.js";

const OUTAGE_MS = scaled(1_500, 5_000);

function scenario(kind: BrokerKind): void {
  describe(`fault: a private ${kind} restarts mid-traffic under 2 processes`, { timeout: scaled(90_000, 600_000) }, async () => {
    const skip = (await skipUnless("redis")) || (await skipUnless("postgres"));
    const clusterName = uniqueName(`fb${kind[0]}`).toLowerCase();
    let broker: Broker | undefined;
    let nodes: NodeProcess[] = [];

    before(async () => {
      if (skip) return;
      broker = await startBroker(kind, await freePort());
      const redis = kind === "redis" ? broker.url : serviceUrls.redis;
      const nats = kind === "nats" ? broker.url : undefined;
      nodes = await startCluster(2, `b${kind[0]}`, clusterName, { redis, nats });
    });
    after(async () => {
      await Promise.all(nodes.map((n) => n.stop()));
      await broker?.kill9();
      if (skip) return;
      await dropClusterSchema(clusterName);
    });

    test("nodes resubscribe, presence is rebuilt, users stay reachable, nothing acknowledged is lost", { skip }, async (t) => {
      await runBrokerOutage(t, {
        name: `${kind} killed and restarted empty (2 processes)`,
        prefix: `b${kind[0]}`,
        nodes,
        async outage() {
          const b = broker!;
          await b.kill9();
          await sleep(OUTAGE_MS);
          broker = await startBroker(kind, b.port);
          return { outage_ms: OUTAGE_MS };
        },
      });
    });
  });
}

scenario("redis");
scenario("nats");
