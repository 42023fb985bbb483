import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { BusCanary } from "../../src/cluster/bus-canary.js";
import { decodeClusterMessage } from "../../src/cluster/cluster-protocol.js";
import { MemoryClusterHub } from "../../src/cluster/memory-hub.js";
import { MemoryMessageBus } from "../../src/cluster/message-bus-memory.js";
import { silentLogger } from "../../src/util/logger.js";

describe("bus canary", () => {
  test("healthy while canaries come back; unhealthy once the node's subscription is gone", async () => {
    const hub = new MemoryClusterHub();
    // The subscription lives on one bus client, the canary publishes through another (as if the
    // node's subscriber connection died while its publisher connection still works).
    const subscriber = new MemoryMessageBus({ hub });
    const publisher = new MemoryMessageBus({ hub });
    const canary = new BusCanary({ bus: publisher, nodeId: "a", logger: silentLogger, intervalMs: 20, missedLimit: 3 });
    let back = 0;
    await subscriber.subscribe("a", (frame) => {
      const msg = decodeClusterMessage(frame);
      if (msg.type === "canary") {
        back++;
        canary.onCanary(msg);
      }
    });
    canary.start();
    try {
      await sleep(150);
      assert.ok(back >= 3, `canaries came back (${back})`);
      assert.equal(canary.healthy, true);
      await subscriber.close();
      await sleep(150);
      assert.equal(canary.healthy, false, "no canary for more than 3 intervals");
      assert.ok(canary.silenceMs >= 60, `silence measured (${canary.silenceMs} ms)`);
    } finally {
      canary.stop();
      await publisher.close();
    }
  });

  test("/health reports each node's bus check (and the store's)", async () => {
    const { startTestServer } = await import("../helpers/server.js");
    const sb = await startTestServer();
    try {
      const res = await sb.get("/health");
      assert.equal(res.status, 200);
      assert.deepEqual(
        res.body.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]),
        [
          ["node-1 bus", true],
          ["node-2 bus", true],
          ["store", true],
        ],
      );
    } finally {
      await sb.stop();
    }
  });
});
