/** The workloads, each run the same way on every system. Numbers go to the result file. */
import * as hdr from "hdr-histogram-js";
import type { SystemName } from "./lib/clients.js";
import { type Worker, cpuSeconds, rssKb, startWorker } from "./lib/procs.js";
import { type RunningSystem, startSwitchboardCluster, startSystem } from "./systems.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`${s}\n`);
const cpu = (sys: RunningSystem) => sys.pids.reduce((t, p) => t + cpuSeconds(p), 0);
const workersCpu = (ws: Worker[]) => ws.reduce((t, w) => t + cpuSeconds(w.child.pid!), 0);

export interface StepResult {
  rate: number;
  sent: number;
  received: number;
  deliveredPerSec: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  lost: number;
  serverCpuPct: number;
  /** The load generators' CPU over the same window (100 % = one core). */
  clientCpuPct: number;
}

interface Snapshot {
  received: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  spanMs: number;
}

/** Fixed-rate steps until p99 passes 200 ms, anything is lost, or delivery falls behind. */
export async function p2p(system: SystemName, rates: number[], stepMs: number, pairs = 100, oneProcess = false): Promise<StepResult[]> {
  const sys = await startSystem(system, { oneProcess });
  const out: StepResult[] = [];
  try {
    const receivers = Array.from({ length: pairs }, (_, i) => `r${i}`);
    const rx = await startWorker({ role: "receiver", system, uids: receivers, addrs: [sys.nodes[1]], localAddress: "127.0.0.2" });
    const tx = await startWorker({
      role: "sender",
      system,
      uids: receivers.map((_, i) => `s${i}`),
      addrs: [sys.nodes[0]],
      localAddress: "127.0.0.3",
    });
    for (const [step, rate] of rates.entries()) {
      const cpu0 = cpu(sys);
      const clientCpu0 = workersCpu([rx, tx]);
      const { sent } = await tx.ask<{ sent: number }>({ cmd: "run", step, rate, ms: stepMs, targets: receivers });
      await sleep(1500);
      const s = await rx.ask<Snapshot>({ cmd: "snapshot", step });
      const r: StepResult = {
        rate,
        sent,
        received: s.received,
        deliveredPerSec: Math.round(s.received / (stepMs / 1000)),
        ...pick(s),
        lost: Math.max(0, sent - s.received),
        serverCpuPct: Math.round(((cpu(sys) - cpu0) / ((stepMs + 1500) / 1000)) * 100),
        clientCpuPct: Math.round(((workersCpu([rx, tx]) - clientCpu0) / ((stepMs + 1500) / 1000)) * 100),
      };
      out.push(r);
      log(
        `  ${system} p2p ${rate}/s: delivered ${r.deliveredPerSec}/s p50 ${r.p50} ms p99 ${r.p99} ms lost ${r.lost} cpu ${r.serverCpuPct}% (clients ${r.clientCpuPct}%)`,
      );
      if (r.lost > 0 || r.p99 > 200 || r.deliveredPerSec < rate * 0.9) break;
    }
    await Promise.all([rx.stop(), tx.stop()]);
  } finally {
    await sys.stop();
  }
  return out;
}

/**
 * One group of `members` spread over `nodes` nodes (round-robin by member), one member sends at fixed
 * rates; every other member's copy counts. Receivers run in `receivers` processes, each holding its
 * share of members on every node; "last member" is the slowest copy of a step.
 */
export async function fanout(
  system: SystemName,
  members: number,
  rates: number[],
  stepMs: number,
  nodes = 4,
  receivers = 2,
): Promise<(StepResult & { members: number; nodes: number })[]> {
  const sys = await startSystem(system, { nodes });
  const out: (StepResult & { members: number; nodes: number })[] = [];
  try {
    const uids = Array.from({ length: members }, (_, i) => `m${i}`);
    if (sys.apiUrl) {
      // The API takes at most 1,000 subscribers per request.
      const all = ["sender", ...uids];
      for (let i = 0; i < all.length; i += 1000) {
        const path = i === 0 ? "/channel" : "/channel/subscriber_add";
        const res = await fetch(`${sys.apiUrl}${path}`, {
          method: "POST",
          body: JSON.stringify({ channel_id: "bench", channel_type: 2, subscribers: all.slice(i, i + 1000) }),
        });
        if (!res.ok) throw new Error(`group ${path}: ${res.status} ${await res.text()}`);
      }
    }
    const rx = [];
    const share = Math.ceil(members / receivers);
    for (let w = 0; w < receivers; w++) {
      const mine = uids.slice(w * share, (w + 1) * share);
      // Member i connects to node i % nodes: every node holds a quarter of the group.
      rx.push(
        await startWorker({
          role: "receiver",
          system,
          uids: mine,
          addrs: sys.nodes,
          addrOffset: w * share,
          localAddress: `127.0.0.${40 + w}`,
          join: "bench",
        }),
      );
    }
    const tx = await startWorker({ role: "sender", system, uids: ["sender"], addrs: [sys.nodes[0]], localAddress: "127.0.0.6" });
    await sleep(1000);
    for (const [step, rate] of rates.entries()) {
      const cpu0 = cpu(sys);
      const clientCpu0 = workersCpu([...rx, tx]);
      const { sent } = await tx.ask<{ sent: number }>({ cmd: "run", step, rate, ms: stepMs, group: "bench" });
      await sleep(3000);
      const snaps = await Promise.all(rx.map((w) => w.ask<Snapshot>({ cmd: "snapshot", step })));
      const received = snaps.reduce((t, s) => t + s.received, 0);
      const expected = sent * members;
      const r = {
        rate,
        members,
        nodes,
        sent,
        received,
        deliveredPerSec: Math.round(received / (Math.max(stepMs, ...snaps.map((s) => s.spanMs)) / 1000)),
        p50: Math.max(...snaps.map((s) => s.p50)),
        p99: Math.max(...snaps.map((s) => s.p99)),
        p999: Math.max(...snaps.map((s) => s.p999)),
        max: Math.max(...snaps.map((s) => s.max)),
        lost: Math.max(0, expected - received),
        serverCpuPct: Math.round(((cpu(sys) - cpu0) / ((stepMs + 3000) / 1000)) * 100),
        clientCpuPct: Math.round(((workersCpu([...rx, tx]) - clientCpu0) / ((stepMs + 3000) / 1000)) * 100),
      };
      out.push(r);
      log(
        `  ${system} fan-out ${rate} msg/s × ${members} on ${nodes} nodes: ${r.deliveredPerSec} deliveries/s p99 ${r.p99} ms (last member ${r.max} ms) lost ${r.lost} cpu ${r.serverCpuPct}% (clients ${r.clientCpuPct}%)`,
      );
      // Past 3 s to the last member the group is only queueing; the summary counts steps within 1 s.
      if (r.lost > 0 || r.p99 > 3000) break;
    }
    await Promise.all([...rx.map((w) => w.stop()), tx.stop()]);
  } finally {
    await sys.stop();
  }
  return out;
}

/** SENDACK rate: senders fire at fixed rates to offline users; each ack means stored. */
export async function durable(
  postgres: boolean,
  rates: number[],
  stepMs: number,
): Promise<{ rate: number; sent: number; ackedPerSec: number; acked: number }[]> {
  // One process as `npm start` runs it (memory backends): the store's own rate.
  const sys = await startSystem("switchboard", { postgres, nodes: 1, oneProcess: true });
  const out: { rate: number; sent: number; ackedPerSec: number; acked: number }[] = [];
  try {
    const tx = await startWorker({
      role: "sender",
      system: "switchboard",
      uids: Array.from({ length: 50 }, (_, i) => `d${i}`),
      addrs: sys.nodes,
      localAddress: "127.0.0.7",
    });
    let before = 0;
    for (const [step, rate] of rates.entries()) {
      const { sent } = await tx.ask<{ sent: number }>({
        cmd: "run",
        step,
        rate,
        ms: stepMs,
        targets: ["offline-a", "offline-b", "offline-c"],
      });
      await sleep(1000);
      const { acks } = await tx.ask<{ acks: number }>({ cmd: "acks" });
      const acked = acks - before;
      before = acks;
      const r = { rate, sent, acked, ackedPerSec: Math.round(acked / (stepMs / 1000)) };
      out.push(r);
      log(`  durable ${postgres ? "postgres" : "sqlite"} ${rate}/s: ${r.ackedPerSec} SENDACK/s (${acked}/${sent})`);
      if (acked < sent * 0.95) break;
    }
    await tx.stop();
  } finally {
    await sys.stop();
  }
  return out;
}

/** /route/batch with 100 uids, 16 requests in flight. */
export async function route(ms: number): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const sys = await startSystem("switchboard", { oneProcess: true });
  try {
    const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    const body = JSON.stringify(Array.from({ length: 100 }, (_, i) => `user-${i}`));
    let done = 0;
    let errors = 0;
    const end = Date.now() + ms;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (Date.now() < end) {
          const t = performance.now();
          const res = await fetch(`${sys.apiUrl}/route/batch`, { method: "POST", body });
          await res.arrayBuffer();
          if (!res.ok) errors++;
          hist.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
          done++;
        }
      }),
    );
    const r = {
      rps: Math.round(done / (ms / 1000)),
      p50: hist.getValueAtPercentile(50) / 1000,
      p99: hist.getValueAtPercentile(99) / 1000,
      errors,
    };
    log(`  route/batch(100): ${r.rps} req/s p99 ${r.p99} ms`);
    return r;
  } finally {
    await sys.stop();
  }
}

/** N idle connections on one server process: RSS per connection and CPU while idle. */
export async function connections(
  system: SystemName,
  n: number,
): Promise<{ connections: number; rssPerConnKb: number; idleCpuPct: number }> {
  // Switchboard as `npm start` runs it (memory backends); cluster-connections measures it on Redis.
  const sys = await startSystem(system, { nodes: 1, oneProcess: true });
  try {
    const pid = sys.pids[0];
    // RSS moves with the garbage collector: the median of samples, after the process has settled.
    await sleep(2000);
    const rss0 = await medianRssKb(pid, 6, 500);
    const per = Math.ceil(n / 2);
    const addrs = [sys.nodes[0]];
    const workers = [];
    for (let i = 0; i < 2; i++) {
      const uids = Array.from({ length: per }, (_, k) => `idle${i}-${k}`);
      workers.push(await startWorker({ role: "idle", system, uids, addrs, localAddress: `127.0.0.${10 + i}` }));
    }
    await sleep(3000);
    const cpu0 = cpuSeconds(pid);
    const rss1 = await medianRssKb(pid, 10, 1000);
    const idleCpuPct = Math.round(((cpuSeconds(pid) - cpu0) / 10) * 1000) / 10;
    const r = { connections: per * 2, rssPerConnKb: Math.round(((rss1 - rss0) / (per * 2)) * 10) / 10, idleCpuPct };
    log(`  ${system} ${r.connections} idle connections: ${r.rssPerConnKb} KB RSS each, ${idleCpuPct}% CPU idle`);
    await Promise.all(workers.map((w) => w.stop()));
    return r;
  } finally {
    await sys.stop();
  }
}

async function medianRssKb(pid: number, samples: number, everyMs: number): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    values.push(rssKb(pid));
    await sleep(everyMs);
  }
  return values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

function pick(s: Snapshot) {
  return { p50: s.p50, p99: s.p99, p999: s.p999, max: s.max };
}

/**
 * Many idle connections over several Switchboard processes (one process may open ~20k files here):
 * `workers` client processes, each on its own 127.0.0.x, spread their connections over every node.
 */
export async function clusterConnections(total: number, processes: number, workers: number) {
  const cluster = await startSwitchboardCluster(processes);
  try {
    const rss0 = cluster.pids.reduce((t, p) => t + rssKb(p), 0);
    const per = Math.ceil(total / workers);
    const started = Date.now();
    const ws = [];
    for (let i = 0; i < workers; i++) {
      const uids = Array.from({ length: per }, (_, k) => `cc${i}-${k}`);
      ws.push(startWorker({ role: "idle", system: "switchboard", uids, addrs: cluster.nodes, localAddress: `127.0.0.${20 + i}` }));
    }
    const running = await Promise.all(ws);
    const connectSeconds = (Date.now() - started) / 1000;
    await sleep(3000);
    const cpu0 = cluster.pids.reduce((t, p) => t + cpuSeconds(p), 0);
    await sleep(10_000);
    const idleCpuPct = Math.round(((cluster.pids.reduce((t, p) => t + cpuSeconds(p), 0) - cpu0) / 10) * 1000) / 10;
    const rss = cluster.pids.reduce((t, p) => t + rssKb(p), 0);
    const r = {
      connections: per * workers,
      processes,
      connectSeconds: Math.round(connectSeconds * 10) / 10,
      rssPerConnKb: Math.round(((rss - rss0) / (per * workers)) * 10) / 10,
      totalRssMb: Math.round(rss / 1024),
      idleCpuPct,
    };
    log(
      `  switchboard ${r.connections} idle connections on ${processes} processes: connected in ${r.connectSeconds} s, ${r.rssPerConnKb} KB RSS each, ${idleCpuPct}% CPU idle (all processes)`,
    );
    await Promise.all(running.map((w) => w.stop()));
    return r;
  } finally {
    await cluster.stop();
  }
}
