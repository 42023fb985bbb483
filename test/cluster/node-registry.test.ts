import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { MemoryClusterHub } from "../../src/cluster/memory-hub.js";
import { MemoryNodeRegistry } from "../../src/cluster/node-registry-memory.js";
import { RedisNodeRegistry } from "../../src/cluster/node-registry-redis.js";
import { EventLog, nodeInfo, nodeRegistryContract } from "../contract/node-registry.contract.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";

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

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
}

nodeRegistryContract(
  "redis",
  async (count) => {
    const prefix = uniqueName("sbtest_registry");
    const registries = Array.from({ length: count }, () => new RedisNodeRegistry({ url: serviceUrls.redis, prefix, sweepMs: SWEEP_MS }));
    return {
      registries,
      cleanup: async () => {
        await Promise.all(registries.map((r) => r.close()));
        const admin = new Redis(serviceUrls.redis);
        await deleteKeys(admin, prefix);
        await admin.quit();
      },
    };
  },
  { sweepMs: SWEEP_MS, skip: redisSkip },
);

describe("RedisNodeRegistry specifics", { skip: redisSkip }, () => {
  let admin: Redis;
  before(() => {
    admin = new Redis(serviceUrls.redis);
  });
  after(async () => {
    await admin.quit();
  });

  test("a watcher whose pub/sub missed events still learns them from the sweep", async () => {
    const prefix = uniqueName("sbtest_registry");
    const a = new RedisNodeRegistry({ url: serviceUrls.redis, prefix, sweepMs: SWEEP_MS });
    const b = new RedisNodeRegistry({ url: serviceUrls.redis, prefix, sweepMs: SWEEP_MS });
    try {
      const log = new EventLog(b);
      await b.list();
      // Write behind pub/sub's back, as if the notification had been lost.
      const { lastSeen: _l, ...content } = nodeInfo("node-silent");
      const sorted = JSON.stringify(Object.fromEntries(Object.entries(content).sort(([x], [y]) => (x < y ? -1 : 1))));
      const [secs] = await admin.time();
      const now = Number(secs) * 1000;
      await admin.hset(`${prefix}:registry:nodes`, "node-silent", `${await admin.incr(`${prefix}:registry:version`)}|${now}|${sorted}`);
      await admin.zadd(`${prefix}:registry:expiry`, now + 30_000, "node-silent");
      await log.waitFor((e) => e.type === "join" && e.node.id === "node-silent", "join from the sweep");
      await admin.incr(`${prefix}:registry:version`);
      await admin.hdel(`${prefix}:registry:nodes`, "node-silent");
      await admin.zrem(`${prefix}:registry:expiry`, "node-silent");
      await log.waitFor((e) => e.type === "leave" && e.nodeId === "node-silent", "leave from the sweep");
      assert.deepEqual(log.summary(), ["join node-silent", "leave node-silent"]);
      await a.announce(nodeInfo("node-1"), 30_000);
      await log.waitFor((e) => e.type === "join" && e.node.id === "node-1", "pub/sub still works");
    } finally {
      await a.close();
      await b.close();
      await deleteKeys(admin, prefix);
    }
  });

  test("keys live under the prefix and expired nodes are swept from Redis", async () => {
    const prefix = uniqueName("sbtest_registry");
    const a = new RedisNodeRegistry({ url: serviceUrls.redis, prefix, sweepMs: SWEEP_MS });
    try {
      const log = new EventLog(a);
      await a.list();
      await a.announce(nodeInfo("node-1"), 200);
      assert.deepEqual((await admin.keys(`${prefix}:*`)).sort(), [
        `${prefix}:registry:expiry`,
        `${prefix}:registry:nodes`,
        `${prefix}:registry:version`,
      ]);
      await log.waitFor((e) => e.type === "leave", "leave", 3_000);
      assert.equal(await admin.hlen(`${prefix}:registry:nodes`), 0);
      assert.equal(await admin.zcard(`${prefix}:registry:expiry`), 0);
    } finally {
      await a.close();
      await deleteKeys(admin, prefix);
    }
  });
});
