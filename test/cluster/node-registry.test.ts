import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Cluster, Redis } from "ioredis";
import { MemoryClusterHub } from "../../src/cluster/memory-hub.js";
import { NodeDirectory } from "../../src/cluster/node-directory.js";
import { MemoryNodeRegistry } from "../../src/cluster/node-registry-memory.js";
import { RedisNodeRegistry, type RedisNodeRegistryOptions } from "../../src/cluster/node-registry-redis.js";
import type { NodeRegistry } from "../../src/cluster/node-registry.js";
import { EventLog, nodeInfo, nodeRegistryContract } from "../contract/node-registry.contract.js";
import { type RedisClusterHandle, redisClusterUnavailable, startRedisCluster } from "../helpers/redis-cluster.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";
import { until } from "../helpers/wait.js";

/** Short sweeps keep the TTL tests quick; production uses REGISTRY_SWEEP_MS. */
const SWEEP_MS = 100;

nodeRegistryContract(
  "memory",
  async (count) => {
    const hub = new MemoryClusterHub();
    const registries = Array.from({ length: count }, () => new MemoryNodeRegistry({ hub, sweepMs: SWEEP_MS }));
    return { registries, cleanup: async () => void (await Promise.all(registries.map((r) => r.close()))) };
  },
  { sweepMs: SWEEP_MS },
);

const redisSkip = await skipUnless("redis");
const clusterSkip = redisClusterUnavailable();

/** Every key of a registry (they share one hash tag, so one DEL works on a cluster too). */
const registryKeys = (prefix: string) => ["nodes", "load", "expiry", "version"].map((k) => `{${prefix}:registry}:${k}`);

/** `count` registries on one fresh prefix; cleanup closes them and deletes their keys. */
function redisFactory(connection: () => Pick<RedisNodeRegistryOptions, "url" | "cluster">, admin: () => Redis | Cluster) {
  return async (count: number) => {
    const prefix = uniqueName("sbtest_registry");
    const registries = Array.from({ length: count }, () => new RedisNodeRegistry({ ...connection(), prefix, sweepMs: SWEEP_MS }));
    return {
      registries,
      cleanup: async () => {
        await Promise.all(registries.map((r) => r.close()));
        await admin().del(...registryKeys(prefix));
      },
    };
  };
}

describe("node registry on plain Redis", { skip: redisSkip }, () => {
  let admin: Redis;
  before(() => {
    admin = new Redis(serviceUrls.redis);
  });
  after(async () => {
    await admin.quit();
  });

  nodeRegistryContract(
    "redis",
    redisFactory(
      () => ({ url: serviceUrls.redis }),
      () => admin,
    ),
    { sweepMs: SWEEP_MS },
  );

  describe("RedisNodeRegistry specifics", () => {
    test("a watcher whose pub/sub missed events still learns them from the resync", async () => {
      const prefix = uniqueName("sbtest_registry");
      const [nodes, load, expiry, version] = registryKeys(prefix);
      const a = new RedisNodeRegistry({ url: serviceUrls.redis, prefix, sweepMs: SWEEP_MS });
      const b = new RedisNodeRegistry({ url: serviceUrls.redis, prefix, sweepMs: SWEEP_MS, resyncMs: 200 });
      try {
        const log = new EventLog(b);
        await b.list();
        // Write behind pub/sub's back, as if the notification had been lost.
        const { lastSeen: _l, connections: _c, ...identity } = nodeInfo("node-silent");
        const sorted = JSON.stringify(Object.fromEntries(Object.entries(identity).sort(([x], [y]) => (x < y ? -1 : 1))));
        const [secs] = await admin.time();
        const now = Number(secs) * 1000;
        await admin.hset(nodes, "node-silent", `${await admin.incr(version)}|${sorted}`);
        await admin.hset(load, "node-silent", `4|${now}`);
        await admin.zadd(expiry, now + 30_000, "node-silent");
        const join = await log.waitFor((e) => e.type === "join" && e.node.id === "node-silent", "join from the resync");
        assert.equal(join.type === "join" && join.node.connections, 4);
        await admin.incr(version);
        await admin.hdel(nodes, "node-silent");
        await admin.zrem(expiry, "node-silent");
        await log.waitFor((e) => e.type === "leave" && e.nodeId === "node-silent", "leave from the resync");
        assert.deepEqual(log.summary(), ["join node-silent", "leave node-silent"]);
        await a.announce(nodeInfo("node-1"), 30_000);
        await log.waitFor((e) => e.type === "join" && e.node.id === "node-1", "pub/sub still works");
      } finally {
        await a.close();
        await b.close();
        await admin.del(...registryKeys(prefix));
      }
    });

    test("keys share one hash tag; heartbeats publish nothing; an expiry is published once; Redis is swept", async () => {
      const prefix = uniqueName("sbtest_registry");
      const channel = `{${prefix}:registry}:events`;
      const spy = new Redis(serviceUrls.redis);
      const published: string[] = [];
      spy.on("smessage", (_channel: string, text: string) => published.push(JSON.parse(text).type));
      await spy.ssubscribe(channel);
      // Three instances reap; the leave must still be published once.
      const registries = [0, 1, 2].map(() => new RedisNodeRegistry({ url: serviceUrls.redis, prefix, sweepMs: SWEEP_MS }));
      const [a] = registries;
      try {
        const log = new EventLog(a);
        await a.list();
        const node = nodeInfo("node-1");
        for (let i = 0; i < 10; i++) await a.announce({ ...node, connections: i }, 400);
        assert.deepEqual((await admin.keys(`{${prefix}:registry}:*`)).sort(), registryKeys(prefix).sort());
        await log.waitFor((e) => e.type === "leave", "leave", 3_000);
        await until("the leave published", () => published.includes("leave"), 2_000, 20);
        await new Promise((r) => setTimeout(r, 3 * SWEEP_MS));
        assert.deepEqual(published, ["join", "leave"], "no event for a heartbeat, one leave for an expiry");
        assert.equal(await admin.hlen(registryKeys(prefix)[0]), 0);
        assert.equal(await admin.hlen(registryKeys(prefix)[1]), 0);
        assert.equal(await admin.zcard(registryKeys(prefix)[2]), 0);
      } finally {
        await Promise.all(registries.map((r) => r.close()));
        await spy.quit();
        await admin.del(...registryKeys(prefix));
      }
    });

    test("a node announced again after its lease ran out (not yet reaped) leaves, then joins", async () => {
      const prefix = uniqueName("sbtest_registry");
      // Sweeps far apart: the re-announce finds the expired lease before any reap does.
      const a = new RedisNodeRegistry({ url: serviceUrls.redis, prefix, sweepMs: 60_000 });
      try {
        const log = new EventLog(a);
        await a.list();
        await a.announce(nodeInfo("node-1"), 50);
        await log.waitFor((e) => e.type === "join", "join");
        await new Promise((r) => setTimeout(r, 100));
        await a.announce(nodeInfo("node-1"), 30_000);
        await log.waitFor((e) => e.type === "join" && log.events.indexOf(e) > 0, "second join");
        assert.deepEqual(log.summary(), ["join node-1", "leave node-1", "join node-1"]);
      } finally {
        await a.close();
        await admin.del(...registryKeys(prefix));
      }
    });
  });

  test("NodeDirectory on Redis: events for membership, loads read on demand", async () => {
    const prefix = uniqueName("sbtest_registry");
    const registry = new RedisNodeRegistry({ url: serviceUrls.redis, prefix, sweepMs: SWEEP_MS });
    try {
      await directoryScenario(registry);
    } finally {
      await registry.close();
      await admin.del(...registryKeys(prefix));
    }
  });
});

test("NodeDirectory on memory: events for membership, loads read on demand", async () => {
  const registry = new MemoryNodeRegistry({ sweepMs: SWEEP_MS });
  try {
    await directoryScenario(registry);
  } finally {
    await registry.close();
  }
});

async function directoryScenario(registry: NodeRegistry): Promise<void> {
  const directory = new NodeDirectory({ registry, resyncMs: 60_000, loadRefreshMs: 50 });
  try {
    const node1 = nodeInfo("node-1", { connections: 1 });
    await registry.announce(node1, 30_000);
    await directory.start();
    assert.deepEqual(
      directory.nodes().map((n) => [n.id, n.connections]),
      [["node-1", 1]],
    );
    await registry.announce(nodeInfo("node-2"), 30_000);
    await until("node-2 joined (an event: the resync is a minute away)", () => directory.get("node-2") !== undefined, 2_000, 10);
    // Same identity, new load: no event, the directory reads it.
    await registry.announce({ ...node1, connections: 7 }, 30_000);
    await until(
      "the new load, read because the directory is read",
      () => directory.nodes().find((n) => n.id === "node-1")?.connections === 7,
      2_000,
      10,
    );
    await registry.withdraw("node-1");
    await until("node-1 left", () => directory.nodes().length === 1, 2_000, 10);
  } finally {
    directory.stop();
  }
}

describe("node registry on a Redis Cluster", { skip: redisSkip || clusterSkip }, () => {
  let cluster: RedisClusterHandle;
  let admin: Cluster;
  before(async () => {
    cluster = await startRedisCluster();
    admin = new Cluster(cluster.urls.map((u) => ({ host: "127.0.0.1", port: Number(new URL(u).port) })));
  });
  after(async () => {
    await admin?.quit();
    await cluster?.stop();
  });

  nodeRegistryContract(
    "redis cluster",
    redisFactory(
      () => ({ url: cluster.url, cluster: true }),
      () => admin,
    ),
    { sweepMs: SWEEP_MS },
  );

  test("every registry key is in one slot", async () => {
    const slots = await Promise.all(registryKeys("sb").map((k) => admin.cluster("KEYSLOT", k)));
    assert.equal(new Set(slots).size, 1, `slots ${slots.join(", ")}`);
  });

  // Last in this describe: it leaves a master killed.
  test("after the master holding the registry is killed -9, announces and watch events resume (failover)", async () => {
    const prefix = uniqueName("sbtest_registry");
    const options = { url: cluster.url, cluster: true, prefix, sweepMs: SWEEP_MS };
    const a = new RedisNodeRegistry(options);
    const b = new RedisNodeRegistry(options);
    try {
      const log = new EventLog(b);
      await b.list();
      await a.announce(nodeInfo("node-1"), 30_000);
      await log.waitFor((e) => e.type === "join", "join before the failover");
      const slot = Number(await admin.cluster("KEYSLOT", registryKeys(prefix)[0]));
      const ranges = await admin.cluster("SLOTS");
      const owner = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)![2][1];
      await cluster.nodes.find((n) => n.port === owner)!.kill9();
      // Refused or timed out until a replica takes over; then the join reaches b's watch.
      await until(
        "an announce accepted after the failover",
        () =>
          a.announce(nodeInfo("node-2"), 30_000).then(
            () => true,
            () => false,
          ),
        20_000,
        200,
      );
      await log.waitFor((e) => e.type === "join" && e.node.id === "node-2", "join after the failover", 10_000);
      // node-1 may be gone: replication is asynchronous, a failover can lose the last writes.
      assert.ok(
        (await b.list()).some((n) => n.id === "node-2"),
        "listed after the failover",
      );
    } finally {
      await a.close();
      await b.close();
    }
  });
});
