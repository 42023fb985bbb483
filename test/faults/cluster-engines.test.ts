/**
 * Fault test: the clustered engines fail under traffic. Two Switchboard processes keep their
 * registry and presence on a 6-process Redis Cluster and their bus on a 3-server NATS cluster
 * (or on the Redis Cluster's sharded pub/sub), while 1:1 and group chat crosses between them:
 * - a Redis Cluster master is killed (its replica is promoted, the old master comes back as replica);
 * - the Redis Cluster is wiped (FLUSHALL on every master): the nodes write their state back;
 * - the NATS server a process is connected to is killed: the client fails over to another.
 * Pass: every user reachable live again, and after a sync nothing acknowledged lost or shown twice.
 */
import { after, before, describe, test } from "node:test";
import type { NodeProcess } from "../helpers/cluster-process.js";
import { type NatsClusterHandle, natsClusterUnavailable, startNatsCluster } from "../helpers/nats-cluster.js";
import { type RedisClusterHandle, redisClusterUnavailable, startRedisCluster } from "../helpers/redis-cluster.js";
import { skipUnless, uniqueName } from "../helpers/services.js";
import { sleep } from "../helpers/wait.js";
import { runBrokerOutage } from "./helpers/broker-outage.js";
import { dropClusterSchema, startCluster } from "./helpers/procs.js";
import { scaled } from "./helpers/report.js";

type Fault = "redis master killed" | "redis cluster wiped" | "nats server killed";

function scenario(fault: Fault, bus: "nats" | "redis"): void {
  describe(`fault: ${fault} under 2 processes (bus on the ${bus} cluster)`, { timeout: scaled(120_000, 600_000) }, async () => {
    const skip = (await skipUnless("postgres")) || redisClusterUnavailable() || (bus === "nats" && natsClusterUnavailable());
    const tag = fault
      .split(" ")
      .map((w) => w[0])
      .join("");
    const clusterName = uniqueName(`fc${tag}`).toLowerCase();
    let redis: RedisClusterHandle | undefined;
    let nats: NatsClusterHandle | undefined;
    let nodes: NodeProcess[] = [];

    before(async () => {
      if (skip) return;
      [redis, nats] = await Promise.all([startRedisCluster(), bus === "nats" ? startNatsCluster(3) : undefined]);
      nodes = await startCluster(2, `c${tag}`, clusterName, { redis: redis.url, nats: nats?.url });
    });
    after(async () => {
      await Promise.all(nodes.map((n) => n.stop()));
      await Promise.all([redis?.stop(), nats?.stop()]);
      if (skip) return;
      await dropClusterSchema(clusterName);
    });

    test("users stay reachable, nothing acknowledged is lost or shown twice", { skip }, async (t) => {
      await runBrokerOutage(t, {
        name: `${fault}, bus on ${bus} (2 processes)`,
        prefix: `c${tag}`,
        nodes,
        async outage(): Promise<Record<string, number>> {
          const started = Date.now();
          if (fault === "redis master killed") {
            const [port] = await redis!.masters();
            const master = redis!.nodes.find((n) => n.port === port)!;
            await master.kill9();
            await redis!.waitSettled(30_000);
            const failoverMs = Date.now() - started;
            await master.restart();
            return { killed_master_port: port, failover_ms: failoverMs };
          }
          if (fault === "redis cluster wiped") {
            await redis!.flushAndReset();
            return { wiped_ms: Date.now() - started };
          }
          const server = nats!.servers[0];
          await server.kill9();
          await sleep(scaled(1_000, 3_000));
          await server.restart();
          return { nats_down_ms: Date.now() - started };
        },
      });
    });
  });
}

scenario("redis master killed", "nats");
scenario("redis cluster wiped", "nats");
scenario("nats server killed", "nats");
scenario("redis master killed", "redis");
