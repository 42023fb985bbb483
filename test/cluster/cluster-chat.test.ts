/**
 * The same chat scenario on every cluster shape: real wukongimjssdk clients on three different
 * nodes chat 1:1 and in a group spanning all nodes. Shapes: three nodes in one process (memory
 * backends), three processes sharing Redis + PostgreSQL (bus on Redis or NATS), each in both
 * delivery modes, and three processes on a Redis Cluster and a NATS cluster.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { type NodeProcess, startNodeProcess, waitForNodes } from "../helpers/cluster-process.js";
import { type NatsClusterHandle, natsClusterUnavailable, startNatsCluster } from "../helpers/nats-cluster.js";
import { type RedisClusterHandle, redisClusterUnavailable, startRedisCluster } from "../helpers/redis-cluster.js";
import { type SdkUser, connectSdkUser } from "../helpers/sdk-user.js";
import { type ApiClient, type TestServer, startTestServer } from "../helpers/server.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";
import { SdkLoader } from "../helpers/wk-sdk.js";

interface ClusterUnderTest {
  /** Router API of node i (in one process: the same API for all). */
  api(i: number): ApiClient;
  wsAddr(i: number): string;
}

const loader = new SdkLoader();
const quietLog = console.log;
before(() => {
  console.log = () => {}; // the SDK logs every packet
});
after(async () => {
  console.log = quietLog;
  await loader.dispose();
});

/** alice on node 1, bob on node 3, carol on node 2: p2p both ways, then a group spanning all three. */
async function chatScenario(cluster: ClusterUnderTest, tag: string): Promise<void> {
  const names = ["alice", "bob", "carol"].map((n) => `${n}-${tag}`);
  for (const uid of names) {
    const res = await cluster.api(0).post("/user/token", { uid, token: `t-${uid}`, device_flag: 1 });
    assert.equal(res.status, 200, `token for ${uid}: ${JSON.stringify(res.body)}`);
  }
  const placement = [0, 2, 1];
  const users: SdkUser[] = [];
  try {
    for (const [i, uid] of names.entries()) {
      users.push(await connectSdkUser(loader, { uid, token: `t-${uid}`, addr: () => cluster.wsAddr(placement[i]) }));
    }
    await Promise.all(users.map((u) => u.waitConnected()));
    const [alice, bob, carol] = users;

    const ack = await alice.sendText("hello bob, from node 1 — 你好 👋", bob.uid, 1);
    assert.equal(ack.reasonCode, 1, "SENDACK success");
    assert.equal(ack.messageSeq, 1, "first message of the channel has seq 1");
    const [got] = await bob.waitReceived(1);
    assert.equal(got.content.text, "hello bob, from node 1 — 你好 👋");
    assert.equal(got.fromUID, alice.uid);
    assert.equal(String(got.messageID), ack.messageID, "bob got the message the SENDACK named");

    const back = await bob.sendText("hi alice, from node 3", alice.uid, 1);
    assert.equal(back.messageSeq, 2, "same person channel, next seq");
    const [reply] = await alice.waitReceived(1);
    assert.equal(reply.content.text, "hi alice, from node 3");

    const group = `g-${tag}`;
    const created = await cluster.api(1).post("/channel", { channel_id: group, channel_type: 2, subscribers: names });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const groupAck = await carol.sendText("hello group, from node 2", group, 2);
    assert.equal(groupAck.reasonCode, 1, "a member may send to the group");
    const [atAlice] = (await alice.waitReceived(2)).slice(1);
    const [atBob] = (await bob.waitReceived(2)).slice(1);
    for (const m of [atAlice, atBob]) {
      assert.equal(m.content.text, "hello group, from node 2");
      assert.equal(m.channel.channelID, group);
      assert.equal(m.channel.channelType, 2);
    }
    assert.equal(carol.received.length, 0, "the sender does not get her own group message back");

    // POST /push/{uid} on any node reaches the user on whichever node holds them.
    const pushed = await cluster.api(1).post(`/push/${encodeURIComponent(bob.uid)}`, { type: 1, content: "pushed to bob" });
    assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
    assert.equal(pushed.body.data.online_devices, 1, "bob is online with one device");
    assert.equal(pushed.body.data.message_idstr, String(pushed.body.data.message_id));
    const [, , atBobPush] = await bob.waitReceived(3);
    assert.equal(atBobPush.content.text, "pushed to bob");
    assert.equal(atBobPush.fromUID, "____system");
  } finally {
    for (const u of users) u.close();
  }
}

for (const mode of ["targeted", "broadcast"] as const) {
  describe(`three nodes in one process (memory backends, ${mode})`, () => {
    let sb: TestServer;
    before(async () => {
      sb = await startTestServer({ nodes: 3, deliveryMode: mode });
    });
    after(() => sb?.stop());

    test("users on three nodes chat 1:1 and in a group", async () => {
      await chatScenario({ api: () => sb, wsAddr: (i) => sb.nodes[i].info().external.wsAddr }, `mem-${mode}`);
    });
  });
}

const processShapes: { bus: "redis" | "nats"; mode: "targeted" | "broadcast"; broadcastAbove?: number }[] = [
  { bus: "redis", mode: "targeted" },
  { bus: "redis", mode: "broadcast" },
  { bus: "nats", mode: "targeted" },
  { bus: "nats", mode: "broadcast" },
  // Every message has more than one recipient: targeted mode takes its large-group (broadcast) path.
  { bus: "redis", mode: "targeted", broadcastAbove: 1 },
];

for (const shape of processShapes) {
  const label = `${shape.mode}${shape.broadcastAbove !== undefined ? `, broadcast above ${shape.broadcastAbove}` : ""}`;
  describe(`three processes on Redis + PostgreSQL, bus on ${shape.bus}, ${label}`, async () => {
    const skip = (await skipUnless("redis")) || (await skipUnless("postgres")) || (shape.bus === "nats" && (await skipUnless("nats")));
    const clusterName = uniqueName("c").toLowerCase();
    let nodes: NodeProcess[] = [];
    before(async () => {
      if (skip) return;
      nodes = await Promise.all(
        [1, 2, 3].map((i) =>
          startNodeProcess({
            nodeId: `n${i}`,
            clusterName,
            redis: serviceUrls.redis,
            postgres: serviceUrls.postgres,
            nats: shape.bus === "nats" ? serviceUrls.nats : undefined,
            deliveryMode: shape.mode,
            extraArgs: shape.broadcastAbove !== undefined ? ["--broadcast-above", String(shape.broadcastAbove)] : [],
          }),
        ),
      );
      // Each process sees the others once their registry announcements arrive.
      for (const n of nodes) await waitForNodes(n, 3);
    });
    after(async () => {
      await Promise.all(nodes.map((n) => n.stop()));
      if (skip) return;
      const sql = new pg.Client({ connectionString: serviceUrls.postgres });
      await sql.connect();
      await sql.query(`DROP SCHEMA IF EXISTS "${clusterName}" CASCADE`);
      await sql.end();
    });

    test("users on three processes chat 1:1 and in a group", { skip }, async () => {
      await chatScenario(
        { api: (i) => nodes[i], wsAddr: (i) => nodes[i].wsAddr },
        `${shape.bus}-${shape.mode}${shape.broadcastAbove ?? ""}`,
      );
    });

    test("route/batch on any process answers the real node of a connected user", { skip }, async () => {
      const uid = `routed-${shape.bus}-${shape.mode}${shape.broadcastAbove ?? ""}`;
      await nodes[0].post("/user/token", { uid, token: "t", device_flag: 1 });
      const user = await connectSdkUser(loader, { uid, token: "t", addr: () => nodes[2].wsAddr });
      try {
        await user.waitConnected();
        for (const n of nodes) {
          const res = await n.post("/route/batch", [uid]);
          assert.equal(res.status, 200);
          assert.equal(res.body[0].ws_addr, nodes[2].wsAddr, `${n.nodeId} routes ${uid} to the node holding it`);
        }
      } finally {
        user.close();
      }
    });
  });
}

for (const bus of ["nats cluster", "redis cluster"] as const) {
  describe(`three processes on a Redis Cluster + PostgreSQL, bus on the ${bus}`, async () => {
    const skip = (await skipUnless("postgres")) || redisClusterUnavailable() || (bus === "nats cluster" && natsClusterUnavailable());
    const clusterName = uniqueName("rc").toLowerCase();
    let redis: RedisClusterHandle | undefined;
    let nats: NatsClusterHandle | undefined;
    let nodes: NodeProcess[] = [];
    before(async () => {
      if (skip) return;
      [redis, nats] = await Promise.all([startRedisCluster(), bus === "nats cluster" ? startNatsCluster(3) : undefined]);
      // Each process gets all seeds and servers, as an operator would configure it.
      nodes = await Promise.all(
        [1, 2, 3].map((i) =>
          startNodeProcess({ nodeId: `rc${i}`, clusterName, redis: redis!.url, nats: nats?.url, postgres: serviceUrls.postgres }),
        ),
      );
      for (const n of nodes) await waitForNodes(n, 3);
    });
    after(async () => {
      await Promise.all(nodes.map((n) => n.stop()));
      await Promise.all([redis?.stop(), nats?.stop()]);
      if (skip) return;
      const sql = new pg.Client({ connectionString: serviceUrls.postgres });
      await sql.connect();
      await sql.query(`DROP SCHEMA IF EXISTS "${clusterName}" CASCADE`);
      await sql.end();
    });

    test("users on three processes chat 1:1 and in a group with the real SDK", { skip }, async () => {
      const health = await nodes[0].get("/health");
      assert.equal(health.status, 200, JSON.stringify(health.body));
      await chatScenario({ api: (i) => nodes[i], wsAddr: (i) => nodes[i].wsAddr }, `rc-${bus.split(" ")[0]}`);
    });
  });
}
