import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { MemoryClusterHub } from "../../src/cluster/memory-hub.js";
import { MemoryPresence } from "../../src/cluster/presence-memory.js";
import { PRESENCE_KEY_GRACE_MS, RedisPresence } from "../../src/cluster/presence-redis.js";
import { binding, presenceContract } from "../contract/presence.contract.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";

presenceContract("memory", async (count) => {
  const hub = new MemoryClusterHub();
  const presences = Array.from({ length: count }, () => new MemoryPresence({ hub }));
  return { presences, cleanup: async () => void (await Promise.all(presences.map((p) => p.close()))) };
});

const redisSkip = await skipUnless("redis");

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
}

presenceContract(
  "redis",
  async (count) => {
    const prefix = uniqueName("sbtest_presence");
    const presences = Array.from({ length: count }, () => new RedisPresence({ url: serviceUrls.redis, prefix }));
    return {
      presences,
      cleanup: async () => {
        await Promise.all(presences.map((p) => p.close()));
        const admin = new Redis(serviceUrls.redis);
        await deleteKeys(admin, prefix);
        await admin.quit();
      },
    };
  },
  { skip: redisSkip },
);

describe("RedisPresence specifics", { skip: redisSkip }, () => {
  let admin: Redis;
  before(() => {
    admin = new Redis(serviceUrls.redis);
  });
  after(async () => {
    await admin.quit();
  });

  test("keys carry TTLs as a safety net, and unbinding the last device removes them", async () => {
    const prefix = uniqueName("sbtest_presence");
    const p = new RedisPresence({ url: serviceUrls.redis, prefix });
    try {
      const b = binding("alice", "node-1", 1, await p.nextEpoch("alice"));
      await p.bind(b, 5_000);
      const userTtl = await admin.pttl(`${prefix}:presence:u:alice`);
      const nodeTtl = await admin.pttl(`${prefix}:presence:node:node-1`);
      for (const ttl of [userTtl, nodeTtl]) assert.ok(ttl > 5_000 && ttl <= 5_000 + PRESENCE_KEY_GRACE_MS, `ttl ${ttl}`);
      assert.deepEqual(await admin.smembers(`${prefix}:presence:node:node-1`), ["1:alice"]);
      await p.unbind("alice", 1, b.epoch);
      assert.equal(await admin.exists(`${prefix}:presence:u:alice`), 0);
      assert.equal(await admin.zcard(`${prefix}:presence:online`), 0);
      assert.deepEqual(await admin.smembers(`${prefix}:presence:node:node-1`), []);
    } finally {
      await p.close();
      await deleteKeys(admin, prefix);
    }
  });

  test("a displaced binding leaves the old node's index", async () => {
    const prefix = uniqueName("sbtest_presence");
    const p = new RedisPresence({ url: serviceUrls.redis, prefix });
    try {
      await p.bind(binding("alice", "node-1", 1, await p.nextEpoch("alice")), 5_000);
      await p.bind(binding("alice", "node-2", 1, await p.nextEpoch("alice")), 5_000);
      assert.deepEqual(await admin.smembers(`${prefix}:presence:node:node-1`), []);
      assert.deepEqual(await admin.smembers(`${prefix}:presence:node:node-2`), ["1:alice"]);
    } finally {
      await p.close();
      await deleteKeys(admin, prefix);
    }
  });

  test("a corrupt entry is skipped on lookup, not thrown", async () => {
    const prefix = uniqueName("sbtest_presence");
    const p = new RedisPresence({ url: serviceUrls.redis, prefix });
    try {
      const good = binding("alice", "node-1", 2, await p.nextEpoch("alice"));
      await p.bind(good, 5_000);
      await admin.hset(`${prefix}:presence:u:alice`, "1", "garbage");
      assert.deepEqual((await p.lookup(["alice"])).get("alice"), [good]);
    } finally {
      await p.close();
      await deleteKeys(admin, prefix);
    }
  });
});
