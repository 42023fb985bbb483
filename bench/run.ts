/**
 * `npm run bench [scenario...]` — Switchboard side by side with Socket.IO (+ sharded Redis adapter)
 * and a plain ws + Redis broadcast baseline, same workloads, same run, loopback only. Scenarios:
 * p2p, fanout, durable, route, connections, cluster-connections, scale (all by default; name some to
 * run only those). BENCH_SCALE=small shortens everything.
 * Writes bench/results/latest.json and regenerates BENCHMARKS.md; the results of scenarios not run
 * this time are kept from the previous latest.json, so naming one scenario updates only its part.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import type { SystemName } from "./lib/clients.js";
import { ONE_PROCESS, writeReport } from "./report.js";
import { scale } from "./scale.js";
import { clusterConnections, connections, durable, fanout, p2p, route } from "./scenarios.js";

const all = ["p2p", "fanout", "durable", "route", "connections", "cluster-connections", "scale"];
const chosen = process.argv.slice(2).filter((a) => !a.startsWith("-"));
// One command reproduces BENCHMARKS.md, the 100k connections (BENCH_CONNS) included: ~3 of its ~15 minutes.
const scenarios = chosen.length ? chosen : all;
for (const s of scenarios) if (!all.includes(s)) throw new Error(`unknown scenario ${s} (${all.join(", ")})`);
const small = process.env.BENCH_SCALE === "small";
// BENCH_SYSTEMS=switchboard narrows the run (e.g. while profiling with BENCH_CPU_PROF=dir).
const systems = (process.env.BENCH_SYSTEMS?.split(",") ?? ["switchboard", "socketio", "ws-redis"]) as SystemName[];
const stepMs = small ? 2000 : 4000;

const results: Record<string, unknown> = {
  startedAt: new Date().toISOString(),
  command: `npm run bench${chosen.length ? ` ${chosen.join(" ")}` : ""}${small ? " (BENCH_SCALE=small)" : ""}`,
  machine: {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    memGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    kernel: os.release(),
  },
};

for (const s of scenarios) {
  process.stderr.write(`== ${s}\n`);
  if (s === "p2p") {
    const rates = small ? [2000, 8000] : [2000, 5000, 10000, 15000, 20000, 30000, 40000, 60000];
    const out: Record<string, unknown> = {};
    for (const sys of systems) out[sys] = await p2p(sys, rates, stepMs);
    // Also what `npm start` runs: both nodes in one process, the bus in memory.
    if (systems.includes("switchboard")) out[ONE_PROCESS] = await p2p("switchboard", rates, stepMs, 100, true);
    results.p2p = out;
  } else if (s === "fanout") {
    // The issue's workload: one group of 10,000 members over 4 nodes (50 msgs/s would be 500k deliveries/s).
    const members = small ? 1000 : Number(process.env.BENCH_GROUP_MEMBERS ?? 10_000);
    const rates = small ? [5, 20] : [2, 5, 10, 20, 50];
    const out: Record<string, unknown> = {};
    for (const sys of systems) out[sys] = await fanout(sys, members, rates, stepMs);
    results.fanout = out;
  } else if (s === "durable") {
    const rates = small ? [2000, 8000] : [5000, 10000, 20000, 40000];
    results.durable = { sqlite: await durable(false, rates, stepMs), postgres: await durable(true, rates, stepMs) };
  } else if (s === "route") {
    results.route = await route(small ? 2000 : 5000);
  } else if (s === "connections") {
    const n = small ? 2000 : 10000;
    results.connections = { switchboard: await connections("switchboard", n), socketio: await connections("socketio", n) };
  } else if (s === "scale") {
    results.scale = await scale(small);
  } else if (s === "cluster-connections") {
    // ~16k connections per server process and 10k per client process keep both under the 20k file limit.
    const total = small ? 6000 : Number(process.env.BENCH_CONNS ?? 100_000);
    results.clusterConnections = await clusterConnections(
      total,
      Math.max(2, Math.ceil(total / 16_000)),
      Math.max(2, Math.ceil(total / 10_000)),
    );
  }
}
results.finishedAt = new Date().toISOString();
// Scenarios not run this time keep their previous results (and say when they were measured).
const latestFile = new URL("results/latest.json", import.meta.url);
if (chosen.length > 0 && existsSync(latestFile)) {
  const previous = JSON.parse(readFileSync(latestFile, "utf8")) as Record<string, unknown>;
  const keys: Record<string, string> = { "cluster-connections": "clusterConnections" };
  let kept = false;
  for (const s of all) {
    const key = keys[s] ?? s;
    if (!scenarios.includes(s) && previous[key] !== undefined) {
      results[key] = previous[key];
      kept = true;
    }
  }
  // The report then names the full run it is based on and every partial run since.
  if (kept) {
    const partial = { command: results.command, at: results.startedAt };
    results.partialRuns = [...((previous.partialRuns as unknown[]) ?? []), partial];
    for (const key of ["command", "startedAt", "machine"]) if (previous[key] !== undefined) results[key] = previous[key];
  }
}
mkdirSync(new URL("results", import.meta.url), { recursive: true });
// This run's own time (a partial run's results carry the full run's startedAt).
const stamp = ((results.partialRuns as { at: string }[] | undefined)?.at(-1)?.at ?? (results.startedAt as string)).replace(/[:.]/g, "-");
writeFileSync(new URL(`results/${stamp}.json`, import.meta.url), JSON.stringify(results, null, 2));
writeFileSync(new URL("results/latest.json", import.meta.url), JSON.stringify(results, null, 2));
writeReport(results);
process.stderr.write("wrote bench/results/latest.json and BENCHMARKS.md\n");
