import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Redis } from "ioredis";
import { MemoryClusterHub } from "../../src/cluster/memory-hub.js";
import { MemoryMessageBus } from "../../src/cluster/message-bus-memory.js";
import { NatsMessageBus } from "../../src/cluster/message-bus-nats.js";
import { RedisMessageBus } from "../../src/cluster/message-bus-redis.js";
import { Inbox, messageBusContract } from "../contract/message-bus.contract.js";
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

  test("frames of one tick to one node leave as one PUBLISH", async () => {
    const prefix = uniqueName("sbtest_bus");
    const a = new RedisMessageBus({ url: serviceUrls.redis, prefix });
    const spy = new Redis(serviceUrls.redis);
    try {
      const messages: Buffer[] = [];
      spy.on("messageBuffer", (_channel: Buffer, message: Buffer) => messages.push(message));
      await spy.subscribe(`${prefix}:node:n2`);
      for (let i = 0; i < 50; i++) a.publish("n2", Buffer.from(`frame ${i}`));
      await a.flush();
      const deadline = Date.now() + 5_000;
      while (messages.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(messages.length, 1, "one PUBLISH for the whole tick");
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
