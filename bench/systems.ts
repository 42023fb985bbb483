/** The systems under test, started the same way for every scenario. */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SystemName } from "./lib/clients.js";
import { startProcess, stopProcess } from "./lib/procs.js";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const POSTGRES_URL = process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface RunningSystem {
  name: SystemName;
  /** Where clients connect, one address per node (2 unless asked for more). */
  nodes: string[];
  apiUrl?: string;
  pids: number[];
  stop(): Promise<void>;
}

let port = 6100;

export interface SystemOptions {
  postgres?: boolean;
  /** Nodes (2 by default); each its own process, like the peers' servers. */
  nodes?: number;
  /** Switchboard only: every node in one process with the in-memory bus (what `npm start` runs). */
  oneProcess?: boolean;
}

export async function startSystem(name: SystemName, opts: SystemOptions = {}): Promise<RunningSystem> {
  const count = opts.nodes ?? 2;
  if (name === "switchboard") {
    // By default one process per node, like the peers: a cluster on Redis (registry, presence,
    // bus) sharing one store (a SQLite file, or PostgreSQL), so the nodes use both cores.
    const dataDir = mkdtempSync(join(tmpdir(), "sb-bench-"));
    const base = port;
    port += 100;
    const cluster = `bench_${process.pid}_${base}`;
    const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : [];
    const children: ChildProcess[] = [];
    const processes = opts.oneProcess ? 1 : count;
    try {
      for (let i = 0; i < processes; i++) {
        const args = [...prof, "dist/src/cli/main.js", "serve"];
        if (opts.oneProcess) args.push("--nodes", String(count));
        else args.push("--nodes", "1", "--node-id", `n${i + 1}`, "--cluster-name", cluster, "--redis", REDIS_URL);
        args.push("--api-host", "127.0.0.1", "--bind-host", "127.0.0.1");
        args.push("--api-port", String(base + i), "--tcp-port", String(base + 20 + i));
        args.push("--ws-port", String(base + 40 + i), "--wss-port", String(base + 60 + i));
        args.push("--allow-plaintext", "--no-token-auth", "--api-key", "off", "--send-rate", "1000000");
        args.push("--data-dir", dataDir, "--log-level", "warn");
        if (opts.postgres) args.push("--postgres", POSTGRES_URL);
        children.push(await startProcess(process.execPath, args, "is up"));
      }
    } catch (err) {
      await Promise.all(children.map(stopProcess));
      throw err;
    }
    return {
      name,
      nodes: Array.from({ length: count }, (_, i) => `127.0.0.1:${base + 20 + i}`),
      apiUrl: `http://127.0.0.1:${base}`,
      pids: children.map((c) => c.pid!),
      stop: async () => {
        await Promise.all(children.map(stopProcess));
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const script = name === "socketio" ? "bench/peers/socketio-server.ts" : "bench/peers/ws-redis-server.ts";
  const ports = Array.from({ length: count }, (_, i) => port + i);
  port += 40;
  const children: ChildProcess[] = [];
  for (const p of ports) children.push(await startProcess(process.execPath, ["--import", "tsx", script, String(p), REDIS_URL], "ready"));
  return {
    name,
    nodes: ports.map((p) => `ws://127.0.0.1:${p}`),
    pids: children.map((c) => c.pid!),
    stop: async () => {
      await Promise.all(children.map(stopProcess));
    },
  };
}

/** Several Switchboard processes, one node each, sharing Redis: for holding more connections than one process may open. */
export async function startSwitchboardCluster(processes: number): Promise<{ nodes: string[]; pids: number[]; stop(): Promise<void> }> {
  const children: ChildProcess[] = [];
  const nodes: string[] = [];
  const dirs: string[] = [];
  const cluster = `bench_conns_${process.pid}`;
  try {
    for (let i = 0; i < processes; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), "sb-bench-"));
      dirs.push(dataDir);
      const [api, tcp] = [port + i, port + 20 + i];
      const args = ["dist/src/cli/main.js", "serve", "--nodes", "1", "--node-id", `c${i}`, "--redis", REDIS_URL, "--cluster-name", cluster];
      args.push("--api-host", "127.0.0.1", "--bind-host", "127.0.0.1", "--api-port", String(api), "--tcp-port", String(tcp));
      args.push("--ws-port", String(tcp + 40), "--wss-port", String(tcp + 60), "--allow-plaintext", "--no-token-auth", "--api-key", "off");
      args.push("--data-dir", dataDir, "--log-level", "warn");
      children.push(await startProcess(process.execPath, args, "is up"));
      nodes.push(`127.0.0.1:${tcp}`);
    }
  } finally {
    port += 100;
  }
  return {
    nodes,
    pids: children.map((c) => c.pid!),
    stop: async () => {
      await Promise.all(children.map(stopProcess));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}
