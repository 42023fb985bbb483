import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Redis } from "ioredis";
import { MemoryClusterHub } from "../../src/cluster/memory-hub.js";
import { MemoryMessageBus } from "../../src/cluster/message-bus-memory.js";
import { NatsMessageBus } from "../../src/cluster/message-bus-nats.js";
import { RedisMessageBus } from "../../src/cluster/message-bus-redis.js";
import type { BusHandler } from "../../src/cluster/message-bus.js";
import { Inbox, messageBusContract } from "../contract/message-bus.contract.js";
import { type NatsClusterHandle, natsClusterUnavailable, startNatsCluster } from "../helpers/nats-cluster.js";
import { type RedisClusterHandle, redisClusterUnavailable, startRedisCluster } from "../helpers/redis-cluster.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";

const closeAll = (buses: { close(): Promise<void> }[]) => async () => void (await Promise.all(buses.map((b) => b.close())));

messageBusContract("memory", async (count) => {
  const hub = new MemoryClusterHub();
  const buses = Array.from({ length: count }, () => new MemoryMessageBus({ hub }));
  return { buses, cleanup: closeAll(buses) };
});

const redisSkip = await skipUnless("redis");
const natsSkip = await skipUnless("nats");

messageBusContract(
  "redis",
  async (count) => {
    const prefix = uniqueName("sbtest_bus");
    const buses = Array.from({ length: count }, () => new RedisMessageBus({ url: serviceUrls.redis, prefix }));
    return { buses, cleanup: closeAll(buses) };
  },
  { skip: redisSkip },
);

messageBusContract(
  "nats",
  async (count) => {
    const prefix = uniqueName("sbtest_bus");
    const buses = Array.from({ length: count }, () => new NatsMessageBus({ url: serviceUrls.nats, prefix }));
    return { buses, cleanup: closeAll(buses) };
  },
  { skip: natsSkip },
);

// The same contract on a 3-server NATS cluster: bus i connects to server i % 3 first (its list
// rotated, not shuffled), so frames cross the cluster's routes. A subscription counts as made once
// the other servers know of it: interest crosses the routes asynchronously, and the contract
// publishes from other servers right after subscribing.
const natsClusterSkip = natsClusterUnavailable();
let natsCluster: Promise<NatsClusterHandle> | undefined;
after(async () => void (await (await natsCluster?.catch(() => undefined))?.stop()));

class RoutedNatsBus extends NatsMessageBus {
  constructor(
    private readonly cluster: NatsClusterHandle,
    private readonly subjectPrefix: string,
    first: number,
  ) {
    const { urls } = cluster;
    super({
      url: [...urls.slice(first), ...urls.slice(0, first)].join(","),
      prefix: subjectPrefix,
      connectionOptions: { noRandomize: true },
    });
  }

  override async subscribe(nodeId: string, handler: BusHandler): Promise<void> {
    await super.subscribe(nodeId, handler);
    const port = Number(this.server?.split(":")[1]);
    await this.cluster.waitForInterest(`${this.subjectPrefix}.node.${nodeId}`, port);
    await this.cluster.waitForInterest(`${this.subjectPrefix}.all`, port);
  }
}

messageBusContract(
  "nats cluster (3 servers)",
  async (count) => {
    natsCluster ??= startNatsCluster(3);
    const cluster = await natsCluster;
    const prefix = uniqueName("sbtest_bus");
    const buses = Array.from({ length: count }, (_, i) => new RoutedNatsBus(cluster, prefix, i % cluster.urls.length));
    return { buses, cleanup: closeAll(buses) };
  },
  { skip: natsClusterSkip },
);

// The same contract on a Redis Cluster (3 masters + 3 replicas): node channels hash to different
// shards, broadcast to one; every bus gets its own cluster connections, as processes would.
const redisClusterSkip = redisSkip || redisClusterUnavailable();
let redisCluster: Promise<RedisClusterHandle> | undefined;
after(async () => void (await (await redisCluster?.catch(() => undefined))?.stop()));

messageBusContract(
  "redis cluster (3 masters)",
  async (count) => {
    redisCluster ??= startRedisCluster();
    const { url } = await redisCluster;
    const prefix = uniqueName("sbtest_bus");
    const buses = Array.from({ length: count }, () => new RedisMessageBus({ url, cluster: true, prefix }));
    return { buses, cleanup: closeAll(buses) };
  },
  { skip: redisClusterSkip },
);

describe("RedisMessageBus on a Redis Cluster", { skip: redisClusterSkip }, () => {
  // Last of the cluster tests in this file: it leaves a master killed.
  test("delivery resumes on every node channel and broadcast after a master is killed -9 (failover)", async () => {
    redisCluster ??= startRedisCluster();
    const { url, nodes } = await redisCluster;
    const prefix = uniqueName("sbtest_bus");
    const a = new RedisMessageBus({ url, cluster: true, prefix });
    const b = new RedisMessageBus({ url, cluster: true, prefix });
    const admin = new Redis(url.split(",")[0]);
    admin.on("error", () => {}); // it may be the node killed below
    try {
      const ids = ["n1", "n2", "n3", "n4", "n5", "n6"];
      const inboxes = new Map(ids.map((id) => [id, new Inbox()]));
      for (const [id, inbox] of inboxes) await b.subscribe(id, inbox.handler);
      a.publish("n1", Buffer.from("before"));
      await inboxes.get("n1")!.waitForText("before");
      // The master owning n1's channel (node channels are hash-tagged by node id).
      const slot = Number(await admin.cluster("KEYSLOT", `${prefix}:node:{n1}`));
      const ranges = await admin.cluster("SLOTS");
      const owner = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)![2][1];
      await nodes.find((n) => n.port === owner)!.kill9();
      // Pub/sub is at-most-once: publish until one arrives on every channel after the failover.
      let n = 0;
      const arrivedAfter = (inbox: Inbox, tag: string) => inbox.texts().some((t) => t.startsWith(tag));
      const missing = () =>
        ids.flatMap((id) => ["after-", "all-"].filter((tag) => !arrivedAfter(inboxes.get(id)!, tag)).map((tag) => `${id} ${tag}`));
      await inboxes
        .get("n1")!
        .waitFor(
          () => {
            n++;
            for (const id of ids) a.publish(id, Buffer.from(`after-${n}`));
            a.broadcast(Buffer.from(`all-${n}`));
            return missing().length === 0;
          },
          "frames on every channel after the failover",
          // Failover ~4 s, then ioredis re-subscribes, or the bus's own check (every 3 s) does.
          30_000,
        )
        .catch((err: Error) => {
          throw new Error(`${err.message}; nothing since the failover on: ${missing().join(", ")}`);
        });
    } finally {
      await a.close();
      await b.close();
      admin.disconnect();
    }
  });
});

describe("RedisMessageBus specifics", { skip: redisSkip }, () => {
  test("delivery resumes after the subscriber connection is killed (ioredis resubscribes)", async () => {
    const prefix = uniqueName("sbtest_bus");
    const a = new RedisMessageBus({ url: serviceUrls.redis, prefix });
    const b = new RedisMessageBus({ url: serviceUrls.redis, prefix });
    const admin = new Redis(serviceUrls.redis);
    try {
      const inbox = new Inbox();
      await b.subscribe("n2", inbox.handler);
      a.publish("n2", Buffer.from("before"));
      await inbox.waitForText("before");
      const idOf = async () => {
        const list = String(await admin.client("LIST"));
        const line = list.split("\n").find((l) => l.includes(`name=${b.subscriberName} `));
        return line?.match(/\bid=(\d+)/)?.[1];
      };
      const killed = await idOf();
      assert.ok(killed, "the subscriber connection is listed under its name");
      assert.equal(await admin.client("KILL", "ID", killed), 1);
      // Pub/sub is at-most-once: publish until one arrives over the new connection.
      let n = 0;
      await inbox.waitFor(
        () => {
          a.publish("n2", Buffer.from(`after-${n++}`));
          return inbox.texts().some((t) => t.startsWith("after-"));
        },
        "a frame after the reconnect",
        10_000,
      );
      const reconnected = await idOf();
      assert.ok(reconnected && reconnected !== killed, `a new subscriber connection (${reconnected}) replaced ${killed}`);
    } finally {
      await a.close();
      await b.close();
      await admin.quit();
    }
  });

  test("frames of one tick to one node leave as one SPUBLISH on the node's hash-tagged channel", async () => {
    const prefix = uniqueName("sbtest_bus");
    const a = new RedisMessageBus({ url: serviceUrls.redis, prefix });
    const spy = new Redis(serviceUrls.redis);
    try {
      const messages: Buffer[] = [];
      spy.on("smessageBuffer", (_channel: Buffer, message: Buffer) => messages.push(message));
      await spy.ssubscribe(`${prefix}:node:{n2}`);
      for (let i = 0; i < 50; i++) a.publish("n2", Buffer.from(`frame ${i}`));
      await a.flush();
      const deadline = Date.now() + 5_000;
      while (messages.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(messages.length, 1, "one SPUBLISH for the whole tick");
      assert.equal(messages[0][0], 0x01, "a batch message");
      assert.equal(messages[0].readUInt32BE(1), Buffer.byteLength("frame 0"), "u32 BE length prefix");
    } finally {
      await a.close();
      await spy.quit();
    }
  });
});

describe("NatsMessageBus specifics", { skip: natsSkip }, () => {
  test("node ids that cannot be NATS subjects are refused", async () => {
    const bus = new NatsMessageBus({ url: serviceUrls.nats, prefix: uniqueName("sbtest_bus") });
    try {
      assert.throws(() => bus.publish("a b", Buffer.from("x")), /NATS subject/);
      assert.throws(() => bus.publish("a.*", Buffer.from("x")), /NATS subject/);
      await assert.rejects(() => bus.subscribe("x>", () => {}), /NATS subject/);
    } finally {
      await bus.close();
    }
  });
});
