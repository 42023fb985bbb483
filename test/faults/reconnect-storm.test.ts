/**
 * Fault test: a reconnect storm. N clients (ci 300, full 10,000), spread over two `switchboard serve`
 * processes (Redis + PostgreSQL) and over source addresses 127.0.0.1-8, lose their connections in
 * the same instant. While they are away each is sent a message; they come back with full-jitter
 * backoff (each asks the route API again), sync what they missed, and must all be connected and
 * caught up within the deadline while both processes stay up and healthy.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { NodeProcess } from "../helpers/cluster-process.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";
import { until } from "../helpers/wait.js";
import { CountingClient, nextSourceAddress } from "../helpers/wk/counting-client.js";
import { alive, dropClusterSchema, retrying, rssOf, startCluster } from "./helpers/procs.js";
import { mib, percentile, report, scaled } from "./helpers/report.js";

const N = Number(process.env.FAULT_STORM_CLIENTS ?? scaled(300, 10_000));
const BACKOFF = scaled({ baseMs: 250, capMs: 3_000, maxAttempts: 40 }, { baseMs: 1_000, capMs: 15_000, maxAttempts: 40 });
const DEADLINE_MS = scaled(40_000, 240_000);
const SOURCE = "storm-src";

/** Runs `fn` over `items` with at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

describe(`fault: reconnect storm of ${N} clients over 2 processes`, { timeout: scaled(120_000, 900_000) }, async () => {
  const skip = (await skipUnless("redis")) || (await skipUnless("postgres"));
  const clusterName = uniqueName("fst").toLowerCase();
  let nodes: NodeProcess[] = [];
  const clients: CountingClient[] = [];

  before(async () => {
    if (skip) return;
    nodes = await startCluster(2, "st", clusterName);
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.stop()));
    if (skip) return;
    await dropClusterSchema(clusterName);
  });

  test("all drop at once, all come back with jittered backoff and catch up; the servers stay up", { skip }, async (t) => {
    const uids = Array.from({ length: N }, (_, i) => `st-${i}`);
    const setupStart = Date.now();
    await pool(uids, 32, async (uid, i) => {
      const res = await retrying(() => nodes[i % 2].post("/user/token", { uid, token: `tok-${uid}`, device_flag: 0 }));
      assert.equal(res.status, 200, `/user/token ${uid}`);
    });
    // The route API names each user's node; reconnects ask it again (alternating routers).
    const firstAddr = new Map<string, string>();
    for (let i = 0; i < N; i += 1000) {
      const res = await nodes[0].post("/route/batch?intranet=0", uids.slice(i, i + 1000));
      assert.equal(res.status, 200, `/route/batch: ${JSON.stringify(res.body)}`);
      for (const g of res.body as { uids: string[]; tcp_addr: string }[]) for (const u of g.uids) firstAddr.set(u, g.tcp_addr);
    }
    let routeCalls = 0;
    let routeErrors = 0;
    const catchUpSyncs = { calls: 0, errors: 0 };
    for (const [i, uid] of uids.entries()) {
      let first = true;
      clients.push(
        new CountingClient({
          uid,
          token: `tok-${uid}`,
          localAddress: nextSourceAddress(8),
          reconnect: BACKOFF,
          connectTimeoutMs: 15_000,
          addr: async () => {
            if (first) {
              first = false;
              return firstAddr.get(uid)!;
            }
            routeCalls++;
            const res = await nodes[(i + routeCalls) % 2]
              .get(`/route?uid=${uid}`)
              .catch((err: Error) => ({ status: 0, body: err.message }));
            if (res.status !== 200) {
              routeErrors++;
              throw new Error(`/route answered ${res.status}`);
            }
            return res.body.tcp_addr as string;
          },
          // Catching up is the app's sync after each reconnect.
          onConnected: async (c) => {
            if (c.stats.connects < 2) return;
            catchUpSyncs.calls++;
            try {
              await c.sync(nodes[i % 2], SOURCE, 1);
            } catch (err) {
              catchUpSyncs.errors++;
              throw err;
            }
          },
        }),
      );
    }
    await pool(clients, 200, (c) => c.start());
    const connectedMs = Date.now() - setupStart;
    // The registry's connection counts are re-announced every 2 s.
    const held = async () => ((await nodes[0].get("/nodes")).body as { connections: number }[]).reduce((s, n) => s + n.connections, 0);
    await until(`all ${N} connections held before the storm`, async () => (await held()) === N, 10_000, 250);

    const peakRss = [0, 0];
    const sampler = setInterval(() => {
      nodes.forEach((n, i) => {
        peakRss[i] = Math.max(peakRss[i], rssOf(n.child.pid));
      });
    }, 250);
    sampler.unref();
    // Every connection lost in the same instant.
    const droppedAt = Date.now();
    for (const c of clients) c.drop();
    // While they are away (or coming back): one message to each, 1,000 receivers per /message/sendbatch.
    let sendErrors = 0;
    const sendFailures: string[] = [];
    const httpRetries = { count: 0 };
    for (let i = 0; i < N; i += 1000) {
      // Idempotent by client_msg_no: asked again if the connection broke under the storm's load.
      const res = await retrying(
        () =>
          nodes[(i / 1000) % 2].post("/message/sendbatch", {
            from_uid: SOURCE,
            subscribers: uids.slice(i, i + 1000),
            client_msg_no: `missed-${i}`,
            payload: Buffer.from("sent while you were away").toString("base64"),
          }),
        4,
        httpRetries,
      ).catch((err: Error) => {
        sendFailures.push(`${err.message}: ${(err.cause as Error)?.message}`);
        return { status: 0, body: undefined };
      });
      if (res.status !== 200) sendErrors += Math.min(1000, N - i);
      else sendErrors += (res.body.data.fail_uids as string[]).length;
    }
    const sentMs = Date.now() - droppedAt;
    try {
      const deadline = Date.now() + DEADLINE_MS;
      while (clients.some((c) => !c.isReady && !c.gaveUp) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    } finally {
      clearInterval(sampler);
    }
    const back = clients.map((c) => c.connectedAt.find((at) => at > droppedAt)).filter((at): at is number => at !== undefined);
    const down = clients.filter((c) => !c.isOpen);
    // Catch-up: the message arrived live or through the reconnect sync. A final sync only counts what was lost.
    const missed = (c: CountingClient) => [...c.shown.values()].find((m) => m.fromUid === SOURCE);
    // The last batch may have been stored just now, its live deliveries still on their way (fan-out follows the
    // commit): give them a few seconds before anyone counts as not caught up.
    await until("live deliveries of the last batches", () => clients.every((c) => missed(c)), 10_000, 100).catch(() => {});
    const live = clients.filter((c) => missed(c)?.via === "recv").length;
    const bySync = clients.filter((c) => missed(c)?.via === "sync").length;
    const missing = clients.filter((c) => !missed(c));
    if (process.env.FAULT_DEBUG) {
      for (const c of missing)
        console.log(
          "MISSING",
          c.uid,
          JSON.stringify({
            stats: c.stats,
            at: c.connectedAt.map((x) => x - droppedAt),
            disc: c.disconnects,
            ref: c.refusals,
            err: c.lastError?.message,
          }),
        );
      for (const n of nodes)
        for (const line of n.output().split("\n"))
          if (/"level":(40|50)|leave|left/.test(line) || missing.some((c) => line.includes(`"${c.uid}"`)))
            console.log(n.nodeId, line.slice(0, 400));
    }
    for (const c of missing) await c.sync(nodes[0], SOURCE, 1).catch(() => 0);
    const lost = clients.filter((c) => !missed(c));
    const times = back.map((at) => at - droppedAt);
    const perSecond = new Map<number, number>();
    for (const ms of times) perSecond.set(Math.floor(ms / 1000), (perSecond.get(Math.floor(ms / 1000)) ?? 0) + 1);
    // Why the servers closed connections during the storm (their info log lines), by reason.
    const serverCloses = new Map<string, number>();
    for (const n of nodes)
      for (const line of n.output().split("\n")) {
        const m = /"msg":"(disconnecting client|CONNECT refused)"/.test(line) && /"reason":"([^"]*)"/.exec(line);
        if (m) serverCloses.set(m[1], (serverCloses.get(m[1]) ?? 0) + 1);
      }
    const health = await Promise.all(nodes.map((n) => n.get("/health").catch(() => ({ status: 0, body: "down" }))));
    report(t, `reconnect storm (${N} clients, 2 processes)`, {
      clients: N,
      initial_connect_ms: connectedMs,
      reconnected: back.length,
      still_down: down.length,
      t50_ms: percentile(times, 50),
      t99_ms: percentile(times, 99),
      t100_ms: percentile(times, 100),
      peak_reconnects_per_s: Math.max(0, ...perSecond.values()),
      connect_attempts_failed: clients.reduce((s, c) => s + c.stats.connectFailures, 0),
      refused_connacks: clients.reduce((s, c) => s + c.stats.refused, 0),
      route_calls: routeCalls,
      http_retries_after_network_errors: httpRetries.count + clients.reduce((s, c) => s + c.stats.syncRetries, 0),
      route_errors: routeErrors,
      missed_sent: N - sendErrors,
      missed_sent_within_ms: sentMs,
      send_errors: sendErrors,
      caught_up_live: live,
      caught_up_by_sync: bySync,
      needed_final_sync: missing.length - lost.length,
      lost: lost.length,
      server_closes: [...serverCloses].map(([r, n]) => `${n}x "${r}"`).join(", ") || "none",
      server_dup_recvs: clients.reduce((s, c) => s + c.stats.recvDuplicates, 0),
      peak_rss_mib: peakRss.map(mib).join("/"),
      health: health.map((h) => h.status).join("/"),
    });
    assert.equal(sendErrors, 0, `every missed message was stored (${sendFailures.join("; ")})`);
    assert.deepEqual(
      down.map((c) => `${c.uid}: ${c.lastError?.message}`),
      [],
      `all ${N} clients reconnected within ${DEADLINE_MS} ms`,
    );
    assert.deepEqual(
      lost.map((c) => c.uid),
      [],
      "no client lost the message sent while it was away",
    );
    assert.deepEqual(
      missing.map((c) => c.uid),
      [],
      "every client caught up by itself: the message came live or with its reconnect sync",
    );
    assert.equal(catchUpSyncs.errors, 0, "catch-up syncs all answered");
    for (const [i, n] of nodes.entries()) {
      assert.ok(alive(n.child), `${n.nodeId} is still running`);
      assert.equal(health[i].status, 200, `${n.nodeId} healthy after the storm: ${JSON.stringify(health[i].body)}`);
    }
    // No leftovers: the processes hold exactly the reconnected sessions.
    await until(`the processes hold exactly ${N} connections after the storm`, async () => (await held()) === N, 10_000, 250);
  });
});
