/**
 * kill -9 a node process while its user chats: the user's SDK reconnects through the route API to
 * a live node, and everything alice had acknowledged is there for bob to sync — nothing lost.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { type NodeProcess, startNodeProcess, waitForNodes } from "../helpers/cluster-process.js";
import { type SdkUser, connectSdkUser } from "../helpers/sdk-user.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";
import { SdkLoader } from "../helpers/wk-sdk.js";

const loader = new SdkLoader();
const quietLog = console.log;

describe("failover: kill -9 a node process mid-chat", async () => {
  const skip = (await skipUnless("redis")) || (await skipUnless("postgres"));
  const clusterName = uniqueName("f").toLowerCase();
  let nodes: NodeProcess[] = [];
  const users: SdkUser[] = [];

  before(async () => {
    console.log = () => {};
    if (skip) return;
    nodes = await Promise.all(
      [1, 2, 3].map((i) => startNodeProcess({ nodeId: `n${i}`, clusterName, redis: serviceUrls.redis, postgres: serviceUrls.postgres })),
    );
    for (const n of nodes) await waitForNodes(n, 3);
  });
  after(async () => {
    for (const u of users) u.close();
    console.log = quietLog;
    await loader.dispose();
    await Promise.all(nodes.map((n) => n.stop()));
    if (skip) return;
    const sql = new pg.Client({ connectionString: serviceUrls.postgres });
    await sql.connect();
    await sql.query(`DROP SCHEMA IF EXISTS "${clusterName}" CASCADE`);
    await sql.end();
  });

  test("bob's node dies; he reconnects to a live node and syncs every acknowledged message", { skip, timeout: 60_000 }, async () => {
    const [n1, , n3] = nodes;
    for (const uid of ["alice", "bob"]) await n1.post("/user/token", { uid, token: `t-${uid}`, device_flag: 1 });
    const alice = await connectSdkUser(loader, { uid: "alice", token: "t-alice", addr: () => n1.wsAddr });
    users.push(alice);
    // Bob starts on n3; every reconnect asks the route API of a live process, as an app would.
    let firstConnect = true;
    const bobAddrs: string[] = [];
    const bob = await connectSdkUser(loader, {
      uid: "bob",
      token: "t-bob",
      addr: async () => {
        const addr = firstConnect ? n3.wsAddr : (await n1.get("/route?uid=bob")).body.ws_addr;
        firstConnect = false;
        bobAddrs.push(addr);
        return addr;
      },
    });
    users.push(bob);
    await Promise.all([alice.waitConnected(), bob.waitConnected()]);

    const sent: { seq: number; text: string }[] = [];
    for (let i = 1; i <= 5; i++) {
      const text = `before ${i}`;
      const ack = await alice.sendText(text, "bob", 1);
      assert.equal(ack.reasonCode, 1, "stored");
      sent.push({ seq: ack.messageSeq, text });
    }
    await bob.waitReceived(5);

    await n3.kill9();
    // Alice keeps talking while bob has no connection: each SENDACK means it is stored.
    for (let i = 1; i <= 10; i++) {
      const text = `while away ${i}`;
      const ack = await alice.sendText(text, "bob", 1);
      assert.equal(ack.reasonCode, 1, "stored while bob is away");
      sent.push({ seq: ack.messageSeq, text });
    }
    // The SDK retries every 3 s; the dead node leaves the registry within its 6 s TTL.
    await bob.waitConnected(30_000);
    const lastAddr = bobAddrs[bobAddrs.length - 1];
    assert.notEqual(lastAddr, n3.wsAddr, `bob ended on a live node (tried ${bobAddrs.join(", ")})`);

    // What an app does after reconnecting: sync the channel from the last seq it saw.
    const lastSeen = Math.max(...bob.received.map((m) => m.messageSeq));
    const sync = await n1.post("/channel/messagesync", {
      login_uid: "bob",
      channel_id: "alice",
      channel_type: 1,
      start_message_seq: lastSeen,
      end_message_seq: 0,
      limit: 100,
      pull_mode: 1,
    });
    assert.equal(sync.status, 200, JSON.stringify(sync.body));
    const synced = (sync.body.messages as { message_seq: number; payload: string }[]).filter((m) => m.message_seq > lastSeen);
    const seen = new Map<number, string>(bob.received.map((m) => [m.messageSeq, m.content.text ?? ""]));
    for (const m of synced) seen.set(m.message_seq, JSON.parse(Buffer.from(m.payload, "base64").toString("utf8")).content);
    for (const s of sent) assert.equal(seen.get(s.seq), s.text, `acknowledged message seq ${s.seq} reached bob`);
    assert.deepEqual(
      sent.map((s) => s.seq),
      Array.from({ length: 15 }, (_, i) => i + 1),
      "seqs 1..15 with no gap",
    );
  });
});
