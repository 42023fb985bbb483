import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { MemoryClusterHub } from "../../src/cluster/memory-hub.js";
import { directoryLiveness } from "../../src/cluster/presence-common.js";
import { MemoryPresence } from "../../src/cluster/presence-memory.js";
import { PRESENCE_EPOCH_KEEP_MS, RedisPresence } from "../../src/cluster/presence-redis.js";
import { binding, presenceContract } from "../contract/presence.contract.js";
import { type RedisClusterHandle, redisClusterUnavailable, startRedisCluster } from "../helpers/redis-cluster.js";
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

// The same contract on a real Redis Cluster (3 masters + 3 replicas): every script must stay in
// one slot, and the bulk paths must not send a pipeline across nodes. Each instance has its own
// cluster connections, as processes would; keys go with the cluster at the end.
const redisClusterSkip = redisSkip || redisClusterUnavailable();
let redisCluster: Promise<RedisClusterHandle> | undefined;
after(async () => void (await (await redisCluster?.catch(() => undefined))?.stop()));

presenceContract(
  "redis cluster (3 masters)",
  async (count) => {
    redisCluster ??= startRedisCluster();
    const { url } = await redisCluster;
    const prefix = uniqueName("sbtest_presence");
    const presences = Array.from({ length: count }, () => new RedisPresence({ url, cluster: true, prefix }));
    return { presences, cleanup: async () => void (await Promise.all(presences.map((p) => p.close()))) };
  },
  { skip: redisClusterSkip },
);

describe("directoryLiveness", () => {
  test("live: the node is listed and the binding is from its listed run or a newer one", () => {
    const listed = new Map([["node-1", { startedAt: 2_000 }]]);
    const alive = directoryLiveness({ get: (id) => listed.get(id) });
    assert.equal(alive("node-1", 2_000), true);
    assert.equal(alive("node-1", 0), true, "a binding without an incarnation: any run");
    assert.equal(alive("node-1", 3_000), true, "restarted, the list has not heard yet");
    assert.equal(alive("node-1", 1_000), false, "left by an earlier run");
    assert.equal(alive("node-2", 2_000), false, "not listed");
  });
});

describe("RedisPresence specifics", { skip: redisSkip }, () => {
  let admin: Redis;
  before(() => {
    admin = new Redis(serviceUrls.redis);
  });
  after(async () => {
    await admin.quit();
  });

  /** A presence on its own connection, with every command it sends counted. */
  function counted(prefix: string): { p: RedisPresence; commands: () => number; reset: () => void } {
    const client = new Redis(serviceUrls.redis);
    let n = 0;
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((...args: Parameters<typeof send>) => {
      n++;
      return send(...args);
    }) as typeof client.sendCommand;
    const p = new RedisPresence({ client, prefix });
    const close = p.close.bind(p);
    p.close = async () => {
      await close();
      client.disconnect();
    };
    const reset = () => {
      n = 0;
    };
    return { p, commands: () => n, reset };
  }

  test("one hash per user with its epoch counter; the node's set; only the counter is left, expiring, after the last unbind", async () => {
    const prefix = uniqueName("sbtest_presence");
    const p = new RedisPresence({ url: serviceUrls.redis, prefix });
    try {
      const b = binding("alice", "node-1", 1, await p.nextEpoch("alice"));
      const userKey = `${prefix}:presence:{alice}`;
      const pending = await admin.pttl(userKey);
      assert.ok(pending > 0 && pending <= PRESENCE_EPOCH_KEEP_MS, `an epoch without a login expires: ${pending}`);
      await p.bind(b, 5_000);
      assert.equal(await admin.pttl(userKey), -1, "a binding has no TTL: it lives as long as its node");
      assert.deepEqual(Object.keys(await admin.hgetall(userKey)).sort(), ["1", "e"]);
      assert.equal(Number(await admin.hget(userKey, "e")), b.epoch);
      assert.deepEqual(await admin.smembers(`${prefix}:node-users:{node-1}`), ["alice"]);
      assert.deepEqual(await admin.smembers(`${prefix}:presence:nodes`), ["node-1"]);
      await p.unbind("alice", 1, b.epoch);
      assert.deepEqual(Object.keys(await admin.hgetall(userKey)), ["e"]);
      const ttl = await admin.pttl(userKey);
      assert.ok(ttl > 0 && ttl <= PRESENCE_EPOCH_KEEP_MS, `ttl ${ttl}`);
      assert.deepEqual(await admin.smembers(`${prefix}:node-users:{node-1}`), []);
      assert.ok((await p.nextEpoch("alice")) > b.epoch);
    } finally {
      await p.close();
      await deleteKeys(admin, prefix);
    }
  });

  test("a displaced binding leaves the old node's set; a second device keeps the uid there", async () => {
    const prefix = uniqueName("sbtest_presence");
    const p = new RedisPresence({ url: serviceUrls.redis, prefix });
    try {
      await p.bind(binding("alice", "node-1", 1, await p.nextEpoch("alice")), 5_000);
      await p.bind(binding("alice", "node-1", 2, await p.nextEpoch("alice")), 5_000);
      await p.bind(binding("alice", "node-2", 1, await p.nextEpoch("alice")), 5_000);
      assert.deepEqual(await admin.smembers(`${prefix}:node-users:{node-1}`), ["alice"]);
      await p.bind(binding("alice", "node-2", 2, await p.nextEpoch("alice")), 5_000);
      assert.deepEqual(await admin.smembers(`${prefix}:node-users:{node-1}`), []);
      assert.deepEqual(await admin.smembers(`${prefix}:node-users:{node-2}`), ["alice"]);
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
      await admin.hset(`${prefix}:presence:{alice}`, "1", "garbage");
      assert.deepEqual((await p.lookup(["alice"])).get("alice"), [good]);
    } finally {
      await p.close();
      await deleteKeys(admin, prefix);
    }
  });

  test("refresh costs O(1) commands while nothing is lost, and writes everything back after a wipe", async () => {
    const prefix = uniqueName("sbtest_presence");
    const { p, commands, reset } = counted(prefix);
    try {
      const bindings = [];
      for (let i = 0; i < 500; i++) {
        const b = binding(`u${i}`, "node-1", 1, await p.nextEpoch(`u${i}`));
        await p.bind(b, 5_000);
        bindings.push(b);
      }
      reset();
      await p.refresh("node-1", bindings, 5_000);
      assert.equal(commands(), 2, "SCARD and SADD of the node id, whatever the number of sessions");
      await deleteKeys(admin, prefix);
      await p.refresh("node-1", bindings, 5_000);
      assert.equal((await p.lookup(bindings.map((b) => b.uid))).size, 500);
      assert.equal(await admin.scard(`${prefix}:node-users:{node-1}`), 500);
      const epoch = await p.nextEpoch("u7");
      assert.ok(epoch > bindings[7].epoch, "the counter is past the written-back binding");
      reset();
      await p.refresh("node-1", bindings, 5_000);
      assert.equal(commands(), 2);
    } finally {
      await p.close();
      await deleteKeys(admin, prefix);
    }
  });

  test("refresh trims a node's set that names far more users than the node holds, and their old bindings", async () => {
    const prefix = uniqueName("sbtest_presence");
    const p = new RedisPresence({ url: serviceUrls.redis, prefix });
    try {
      const b = binding("alice", "node-1", 1, await p.nextEpoch("alice"));
      await p.bind(b, 5_000);
      const ghosts = Array.from({ length: 20 }, (_, i) => `ghost-${i}`);
      await admin.sadd(`${prefix}:node-users:{node-1}`, ...ghosts);
      // Left by an earlier run of node-1 (epochs are server time in µs: two minutes old)...
      const oldEpoch = (Date.now() - 120_000) * 1000;
      const left = Array.from({ length: 20 }, (_, i) => binding(`left-${i}`, "node-1", 1, oldEpoch + i));
      for (const l of left) await p.bind(l, 5_000);
      // ...and a login still in flight: bound, not yet among the node's sessions.
      const young = binding("bob", "node-1", 1, await p.nextEpoch("bob"));
      await p.bind(young, 5_000);
      await p.refresh("node-1", [b], 5_000);
      assert.deepEqual((await admin.smembers(`${prefix}:node-users:{node-1}`)).sort(), ["alice", "bob"]);
      assert.deepEqual((await p.onlineUids(10)).sort(), ["alice", "bob"]);
      assert.equal((await p.lookup(left.map((l) => l.uid))).size, 0);
    } finally {
      await p.close();
      await deleteKeys(admin, prefix);
    }
  });
});
