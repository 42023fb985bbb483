/**
 * Real Switchboard processes for cluster tests: `switchboard serve` run with tsx, on free ports,
 * sharing Redis (and NATS, PostgreSQL) under one cluster name. The addresses are read from the
 * "switchboard started" log line, so nothing guesses at ports.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ApiClient, apiClient } from "./server.js";

const root = new URL("../..", import.meta.url).pathname;

export interface NodeProcessOptions {
  nodeId: string;
  clusterName: string;
  redis: string;
  postgres: string;
  nats?: string;
  deliveryMode?: "targeted" | "broadcast";
  extraArgs?: string[];
}

export interface NodeProcess extends ApiClient {
  nodeId: string;
  apiUrl: string;
  tcpAddr: string;
  wsAddr: string;
  child: ChildProcess;
  /** Everything the process logged (stdout and stderr), for failure messages. */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL: the process dies without deregistering. */
  kill9(): Promise<void>;
}

/** `serve` flags for a test process: loopback only, every port chosen by the OS. */
export const LOOPBACK_ANY_PORTS = [
  "--api-host",
  "127.0.0.1",
  "--bind-host",
  "127.0.0.1",
  "--api-port",
  "0",
  "--tcp-port",
  "0",
  "--ws-port",
  "0",
  "--wss-port",
  "0",
] as const;

export async function startNodeProcess(o: NodeProcessOptions, timeoutMs = 20_000): Promise<NodeProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), `switchboard-${o.nodeId}-`));
  const args = ["--import", "tsx", join(root, "src/cli/main.ts"), "serve", "--nodes", "1", "--node-id", o.nodeId];
  args.push("--cluster-name", o.clusterName, "--redis", o.redis, "--postgres", o.postgres, "--data-dir", dataDir);
  if (o.nats) args.push("--nats", o.nats);
  args.push(...LOOPBACK_ANY_PORTS);
  // Scenario tests call the server-side API without a key; a test of the key passes its own in extraArgs.
  args.push("--delivery-mode", o.deliveryMode ?? "targeted", "--log-level", "info", "--api-key", "off", ...(o.extraArgs ?? []));
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, SWITCHBOARD_CONFIG: "" },
  });
  let log = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const started = new Promise<{ api: string; tcp: string; ws: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${o.nodeId} did not start within ${timeoutMs} ms:\n${log}`)), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${o.nodeId} exited with ${code} while starting:\n${log}`));
    });
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      for (const line of log.split("\n")) {
        if (!line.includes('"switchboard started"')) continue;
        const entry = JSON.parse(line) as { api: string; nodes: { tcpAddr: string; wsAddr: string }[] };
        clearTimeout(timer);
        resolve({ api: entry.api, tcp: entry.nodes[0].tcpAddr, ws: entry.nodes[0].wsAddr });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => {
      log += chunk.toString();
    });
  });
  let addresses: { api: string; tcp: string; ws: string };
  try {
    addresses = await started;
  } catch (err) {
    child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const finish = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    ...apiClient(addresses.api),
    nodeId: o.nodeId,
    apiUrl: addresses.api,
    tcpAddr: addresses.tcp,
    wsAddr: addresses.ws,
    child,
    output: () => log,
    stop: () => finish("SIGTERM"),
    kill9: () => finish("SIGKILL"),
  };
}

/** Wait until a process's /nodes lists `count` nodes (registry announcements travel through Redis). */
export async function waitForNodes(node: ApiClient, count: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await node.get("/nodes");
    if (res.status === 200 && res.body.length === count) return;
    if (Date.now() > deadline) throw new Error(`expected ${count} nodes, /nodes says ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
