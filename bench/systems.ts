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
  /** Where clients connect: [node 1, node 2]. */
  nodes: [string, string];
  apiUrl?: string;
  pids: number[];
  stop(): Promise<void>;
}

let port = 6100;

export async function startSystem(name: SystemName, opts: { postgres?: boolean } = {}): Promise<RunningSystem> {
  if (name === "switchboard") {
    const dataDir = mkdtempSync(join(tmpdir(), "sb-bench-"));
    const [api, tcp, ws, wss] = [port, port + 10, port + 20, port + 30];
    port += 40;
    const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : [];
    const args = [...prof, "dist/src/cli/main.js", "serve", "--nodes", "2", "--api-host", "127.0.0.1", "--bind-host", "127.0.0.1"];
    args.push("--api-port", String(api), "--tcp-port", String(tcp), "--ws-port", String(ws), "--wss-port", String(wss));
    args.push(
      "--allow-plaintext",
      "--no-token-auth",
      "--api-key",
      "off",
      "--send-rate",
      "1000000",
      "--data-dir",
      dataDir,
      "--log-level",
      "warn",
    );
    if (opts.postgres) args.push("--postgres", POSTGRES_URL, "--cluster-name", `bench_${process.pid}_${api}`);
    const child = await startProcess(process.execPath, args, "is up");
    return {
      name,
      nodes: [`127.0.0.1:${tcp}`, `127.0.0.1:${tcp + 1}`],
      apiUrl: `http://127.0.0.1:${api}`,
      pids: [child.pid!],
      stop: async () => {
        await stopProcess(child);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const script = name === "socketio" ? "bench/peers/socketio-server.ts" : "bench/peers/ws-redis-server.ts";
  const ports = [port, port + 1];
  port += 40;
  const children: ChildProcess[] = [];
  for (const p of ports) children.push(await startProcess(process.execPath, ["--import", "tsx", script, String(p), REDIS_URL], "ready"));
  return {
    name,
    nodes: [`ws://127.0.0.1:${ports[0]}`, `ws://127.0.0.1:${ports[1]}`],
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
