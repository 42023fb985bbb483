/**
 * A load process (forked by run.ts, one per role so the generator spreads over processes):
 *   receiver — holds users' connections, counts messages per step and records latency (HDR, µs)
 *   sender   — holds senders' connections and sends at a fixed open-loop rate when told
 *   idle     — holds idle connections
 * Payload: "step|sendTimeMs|pad". Talks to run.ts over IPC.
 */
import * as hdr from "hdr-histogram-js";
import { type BenchConn, type SystemName, connect, connectMany } from "./lib/clients.js";

interface Setup {
  role: "receiver" | "sender" | "idle";
  system: SystemName;
  uids: string[];
  /** Node addresses: user i connects to addrs[(addrOffset + i) % addrs.length]. */
  addrs: string[];
  addrOffset?: number;
  localAddress: string;
  join?: string;
}

let setup: Setup;
const now = () => performance.timeOrigin + performance.now();
const send = (m: unknown) => process.send?.(m);
let conns: BenchConn[] = [];

const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
const perStep = new Map<number, number>();
let firstAt = 0;
let lastAt = 0;

async function main(): Promise<void> {
  // Heartbeats like a real client's (each connection every ~30 s), from the first connection on, so the
  // server's idle timeout keeps them however long connecting all of them takes.
  const live: BenchConn[] = [];
  let next = 0;
  setInterval(() => {
    const slice = Math.ceil(live.length / 30);
    for (let k = 0; k < slice; k++) live[next++ % live.length]?.ping();
  }, 1000).unref();
  conns = await connectMany(setup.uids.length, 200, (i) =>
    connect({
      system: setup.system,
      uid: setup.uids[i],
      addr: setup.addrs[((setup.addrOffset ?? 0) + i) % setup.addrs.length],
      localAddress: setup.localAddress,
    }).then((c) => {
      live.push(c);
      return c;
    }),
  );
  if (setup.join) for (const c of conns) c.join(setup.join);
  if (setup.role === "receiver") {
    for (const c of conns) {
      c.onMessage((data) => {
        const bar = data.indexOf("|");
        const step = Number(data.slice(0, bar));
        const t = now();
        hist.recordValue(Math.max(1, Math.round((t - Number(data.slice(bar + 1, data.indexOf("|", bar + 1)))) * 1000)));
        perStep.set(step, (perStep.get(step) ?? 0) + 1);
        if (!firstAt) firstAt = t;
        lastAt = t;
      });
    }
  }
  send({ ready: true, connections: conns.length });
}

/** Open loop: every 5 ms send what the schedule says is due, round-robin over senders and targets. */
async function run(step: number, rate: number, ms: number, targets: string[], group?: string): Promise<number> {
  const start = now();
  let sent = 0;
  const pad = "x".repeat(32);
  while (now() - start < ms) {
    const due = Math.floor(((now() - start) / 1000) * rate);
    for (; sent < due; sent++) {
      const c = conns[sent % conns.length];
      const data = `${step}|${now()}|${pad}`;
      if (group) c.sendGroup(group, data);
      else c.send(targets[sent % targets.length], data);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return sent;
}

interface Command {
  cmd: string;
  setup?: Setup;
  step?: number;
  rate?: number;
  ms?: number;
  targets?: string[];
  group?: string;
}

process.on("message", async (m: Command) => {
  if (m.cmd === "setup") {
    setup = m.setup!;
    main().catch((err) => {
      send({ error: String(err?.stack ?? err) });
      process.exit(1);
    });
  } else if (m.cmd === "run") {
    const sent = await run(m.step!, m.rate!, m.ms!, m.targets ?? [], m.group);
    send({ sent, acks: conns.reduce((t, c) => t + c.acks(), 0) });
  } else if (m.cmd === "acks") {
    send({ acks: conns.reduce((t, c) => t + c.acks(), 0) });
  } else if (m.cmd === "snapshot") {
    send({
      received: perStep.get(m.step!) ?? 0,
      p50: hist.getValueAtPercentile(50) / 1000,
      p99: hist.getValueAtPercentile(99) / 1000,
      p999: hist.getValueAtPercentile(99.9) / 1000,
      max: hist.maxValue / 1000,
      spanMs: lastAt - firstAt,
    });
    hist.reset();
    firstAt = 0;
  } else if (m.cmd === "exit") {
    for (const c of conns) c.close();
    process.exit(0);
  }
});
