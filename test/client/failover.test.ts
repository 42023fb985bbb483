/**
 * The SDK when things break, against a real server (idle timeout 1 s, so heartbeats matter): its
 * node stops, PONGs stop coming, CONNACK never comes, the router is down; and close() leaves
 * nothing running.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import type { ClientMessage } from "../../src/client/node.js";
import { PacketType } from "../../src/protocol/constants.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { clientFactory, collect, registerUsers, sleep, until, wsTap } from "./helpers.js";

const KEY = "failover-test-key";
const root = new URL("../..", import.meta.url).pathname;

describe("SwitchboardClient through failures", () => {
  let sb: TestServer;
  const { make, closeAll } = clientFactory(() => sb, { heartbeatMs: 250 });
  before(async () => {
    sb = await startTestServer({ apiKey: KEY, idleTimeoutMs: 1_000 });
    await registerUsers(sb, KEY, ["quiet", "deaf", "slow", "orphan", "exit-a", "exit-b"]);
  });
  after(async () => {
    closeAll();
    await sb?.stop();
  });

  test("heartbeats keep an idle connection open past the server's idle timeout", async () => {
    const t = wsTap();
    const quiet = make("quiet", { connect: t.factory });
    const drops: string[] = [];
    quiet.on("disconnected", (d) => drops.push(d.reason));
    await quiet.connect();
    await sleep(2_200);
    assert.deepEqual(drops, [], "never dropped");
    assert.equal(quiet.connected, true);
    const pings = t.sent.filter((s) => s.packet.type === PacketType.PING).length;
    const pongs = t.received.filter((r) => r.packet.type === PacketType.PONG).length;
    assert.ok(pings >= 4 && pongs >= 4, `pinged and answered every 250 ms (${pings} PINGs, ${pongs} PONGs)`);
  });

  test("no PONG within pongTimeoutMs: the connection is dropped and dialled again", async () => {
    const t = wsTap();
    // The first connection goes deaf after CONNACK: the server still answers, the client hears nothing.
    t.onIncoming = (p, conn) => (conn === 1 && p.type !== PacketType.CONNACK ? "drop" : "pass");
    const deaf = make("deaf", { connect: t.factory, heartbeatMs: 150, pongTimeoutMs: 150 });
    const events: string[] = [];
    deaf.on("disconnected", (d) => events.push(`disconnected: ${d.reason} (${d.willReconnect})`));
    deaf.on("reconnecting", (r) => events.push(`reconnecting: ${r.reason}`));
    deaf.on("connected", () => events.push("connected"));
    await deaf.connect();
    await until("a second connection", () => events.filter((e) => e === "connected").length === 2, 5_000);
    assert.deepEqual(events.slice(0, 4), [
      "connected",
      "disconnected: no answer to PING within 150 ms (true)",
      "reconnecting: no answer to PING within 150 ms",
      "connected",
    ]);
    assert.equal(t.connections, 2);
  });

  test("no CONNACK within connectTimeoutMs: the attempt is abandoned and retried", async () => {
    const t = wsTap();
    t.onIncoming = (p, conn) => (conn === 1 && p.type === PacketType.CONNACK ? "drop" : "pass");
    const slow = make("slow", { connect: t.factory, connectTimeoutMs: 300, backoff: { baseMs: 10, capMs: 10 } });
    const events: string[] = [];
    slow.on("disconnected", () => events.push("disconnected"));
    slow.on("reconnecting", (r) => events.push(`reconnecting: ${r.reason.replace(/ws:\S+/, "ADDR")}`));
    const started = Date.now();
    await slow.connect();
    assert.ok(Date.now() - started >= 300, "waited out the timeout");
    assert.equal(events[0], "reconnecting: no CONNACK from ADDR within 300 ms");
    assert.ok(!events.includes("disconnected"), "never connected, so never disconnected");
  });

  test("the router is down: a lost connection is dialled again at the last address", async () => {
    let routerDown = false;
    const t = wsTap();
    const orphan = make("orphan", {
      connect: t.factory,
      fetch: (url, init) =>
        routerDown && String(url).includes("/route?") ? Promise.reject(new TypeError("fetch failed")) : fetch(url, init),
    });
    const addrs: string[] = [];
    orphan.on("connected", (c) => addrs.push(c.addr));
    await orphan.connect();
    routerDown = true;
    t.kill();
    await until("the reconnect", () => addrs.length === 2);
    assert.equal(addrs[1], addrs[0]);
  });

  test("close() leaves no timer, socket or request behind: its process exits by itself", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", `${root}test/client/fixtures/close-and-exit.ts`, sb.apiUrl, "exit-a", "exit-b"],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    const append = (d: Buffer) => {
      out += d.toString();
    };
    child.stdout.on("data", append);
    child.stderr.on("data", append);
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve("did not exit within 15 s");
      }, 15_000);
      child.on("exit", (c, signal) => {
        clearTimeout(timer);
        resolve(c ?? String(signal));
      });
    });
    assert.equal(code, 0, `the child exits cleanly; its output:\n${out}`);
    assert.match(out, /closed ClientClosedError/, "the unacknowledged send was rejected by close()");
  });
});

describe("SwitchboardClient when its node stops", () => {
  let sb: TestServer;
  const { make, closeAll } = clientFactory(() => sb);
  before(async () => {
    sb = await startTestServer({ apiKey: KEY });
  });
  after(async () => {
    closeAll();
    await sb?.stop();
  });

  test("it re-routes to the live node and gets what was sent meanwhile, in order, once each", async () => {
    // A receiver and a sender the router places on different nodes.
    const candidates = Array.from({ length: 20 }, (_, i) => `user${i}`);
    const groups = (await sb.post("/route/batch", candidates)).body as { uids: string[]; ws_addr: string }[];
    assert.equal(groups.length, 2, "users spread over both nodes");
    const [frankUid, aliceUid] = [groups[0].uids[0], groups[1].uids[0]];
    await registerUsers(sb, KEY, [frankUid, aliceUid]);

    const frank = make(frankUid);
    const atFrank = collect(frank);
    const events: string[] = [];
    const addrs: string[] = [];
    frank.on("connected", (c) => {
      addrs.push(c.addr);
      events.push("connected");
    });
    // When frank was away: from his disconnect to his next CONNACK (bound again by then).
    let awayFrom = Number.POSITIVE_INFINITY;
    let awayTo = Number.POSITIVE_INFINITY;
    frank.on("connected", () => {
      if (awayFrom !== Number.POSITIVE_INFINITY && awayTo === Number.POSITIVE_INFINITY) awayTo = performance.now();
    });
    frank.on("disconnected", (d) => {
      events.push(`disconnected (${d.willReconnect})`);
      awayFrom = Math.min(awayFrom, performance.now());
    });
    frank.on("reconnecting", () => events.push("reconnecting"));
    await frank.connect();
    assert.equal(addrs[0], groups[0].ws_addr, "frank is where the router put him");
    const home = sb.nodes.find((n) => n.info().external.wsAddr === addrs[0]);
    const other = sb.nodes.find((n) => n !== home);
    assert.ok(home && other, "frank's node is one of ours");
    const alice = make(aliceUid);
    await alice.connect();

    // Alice sends without pause from before the stop until well after frank is back.
    let n = 0;
    let sentAfterReturn = 0;
    const sentWhileAway: string[] = [];
    const sending = (async () => {
      while (sentAfterReturn < 10) {
        if (addrs.length >= 2) sentAfterReturn++;
        const i = n++;
        const sentAt = performance.now();
        await alice.send(frankUid, 1, `m${i}`);
        // Stored and fanned out entirely while frank was away: it can only reach him by sync.
        if (sentAt > awayFrom && performance.now() < awayTo) sentWhileAway.push(`m${i}`);
        await sleep(10);
      }
    })();
    await until("a few live messages", () => atFrank.length >= 3);
    await home.stop();
    await sending;

    await until("every message", () => atFrank.length >= n, 15_000);
    await sleep(200);
    assert.equal(addrs[1], other.info().external.wsAddr, "reconnected to the live node");
    // One or more attempts (an attempt may still find the old node) between the two connections.
    assert.match(events.join(", "), /^connected, disconnected \(true\), (reconnecting, )+connected$/);
    const seqs = atFrank.map((m: ClientMessage) => m.messageSeq);
    const shown = atFrank.map((m) => `${m.messageSeq}${m.synced ? "s" : ""}`).join(" ");
    assert.deepEqual(
      seqs,
      Array.from({ length: n }, (_, i) => i + 1),
      `every seq once, in order: ${shown}`,
    );
    assert.deepEqual(
      atFrank.map((m) => m.text),
      Array.from({ length: n }, (_, i) => `m${i}`),
    );
    // A reconnect can be quicker than one send; when one fell in the gap, it came by sync.
    const notSynced = atFrank.filter((m) => sentWhileAway.includes(m.text) && !m.synced).map((m) => m.text);
    assert.deepEqual(notSynced, [], `what was sent while frank was away (${sentWhileAway.join(" ")}) came by sync`);
    assert.ok(
      atFrank.slice(-3).every((m) => !m.synced),
      `and the last ones live again: ${shown}`,
    );
  });
});
