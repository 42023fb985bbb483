/**
 * Processes a fault scenario starts and must not leave behind: standalone `switchboard serve`
 * processes (SQLite, no Redis), private redis-server / nats-server instances on free ports in temp
 * folders, and the cluster processes of test/helpers/cluster-process.ts. Every child is tracked and
 * SIGKILLed when the test process exits, so a failing or cancelled test leaves no orphan.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import {
  LOOPBACK_ANY_PORTS,
  type NodeProcess,
  type NodeProcessOptions,
  startNodeProcess,
  waitForNodes,
} from "../../helpers/cluster-process.js";
import { type ApiClient, apiClient } from "../../helpers/server.js";
import { serviceUrls } from "../../helpers/services.js";
import { sleep, until } from "../../helpers/wait.js";

const root = new URL("../../..", import.meta.url).pathname;

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Remember a child so it is killed when this process exits, whatever the outcome of the tests. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    });
  }
  return child;
}

import { portOpen } from "../../helpers/services.js";
export { freePort } from "../../helpers/services.js";

/**
 * Runs `fn` again when it throws (a network error: the peer closed a kept-alive connection under
 * load), up to `attempts` times with doubling pauses. Only for idempotent calls: reads, and sends
 * carrying a client_msg_no. Counts each retry in `retries` when given.
 */
export async function retrying<T>(fn: () => Promise<T>, attempts = 4, retries?: { count: number }): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      if (retries) retries.count++;
      await sleep(250 * 2 ** (i - 1));
    }
  }
}

/** Resident memory of a process in bytes (Linux /proc), or 0 when it is gone. */
export function rssOf(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export type BrokerKind = "redis" | "nats";

/** A private redis-server or nats-server on `port` (never the shared ones: other tests use them). */
export interface Broker {
  kind: BrokerKind;
  port: number;
  url: string;
  child: ChildProcess;
  kill9(): Promise<void>;
}

export async function startBroker(kind: BrokerKind, port: number, timeoutMs = 10_000): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), `switchboard-fault-${kind}-`));
  const args =
    kind === "redis"
      ? ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir]
      : ["-a", "127.0.0.1", "-p", String(port)];
  const child = track(spawn(kind === "redis" ? "redis-server" : "nats-server", args, { stdio: "ignore", cwd: dir }));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    await until(`private ${kind} on ${port}`, () => portOpen(port), timeoutMs, 50);
  } catch (err) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    kind,
    port,
    url: `${kind}://127.0.0.1:${port}`,
    child,
    async kill9() {
      if (alive(child)) child.kill("SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A cluster process (Redis + PostgreSQL) from the shared helper, tracked for cleanup. */
export async function startClusterNode(o: NodeProcessOptions): Promise<NodeProcess> {
  const node = await startNodeProcess(o);
  track(node.child);
  return node;
}

/**
 * `count` serve processes (ids `${idPrefix}1`…) of one cluster on Redis + PostgreSQL, started
 * together and returned once each sees all the others.
 */
export async function startCluster(
  count: number,
  idPrefix: string,
  clusterName: string,
  o: { redis?: string; nats?: string } = {},
): Promise<NodeProcess[]> {
  const nodes = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      startClusterNode({
        nodeId: `${idPrefix}${i + 1}`,
        clusterName,
        redis: o.redis ?? serviceUrls.redis,
        nats: o.nats,
        postgres: serviceUrls.postgres,
      }),
    ),
  );
  for (const n of nodes) await waitForNodes(n, count);
  return nodes;
}

/** Drops the PostgreSQL schema a cluster's store lived in. */
export async function dropClusterSchema(clusterName: string): Promise<void> {
  const sql = new pg.Client({ connectionString: serviceUrls.postgres });
  await sql.connect();
  try {
    await sql.query(`DROP SCHEMA IF EXISTS "${clusterName}" CASCADE`);
  } finally {
    await sql.end();
  }
}

/** A standalone `switchboard serve` process: SQLite in a temp folder, memory cluster backends. */
export interface ServeProcess extends ApiClient {
  apiUrl: string;
  dataDir: string;
  nodes: { tcpAddr: string; wsAddr: string; wssAddr: string }[];
  child: ChildProcess;
  /** Everything the process printed (stdout and stderr). */
  output(): string;
  rss(): number;
  stop(): Promise<void>;
}

/** `o.dataDir`: a data folder the caller made (and removes); by default a temp folder removed on stop. */
export async function startServeProcess(
  extraArgs: string[] = [],
  o: { nodes?: number; timeoutMs?: number; dataDir?: string } = {},
): Promise<ServeProcess> {
  const ownDir = o.dataDir === undefined;
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), "switchboard-fault-"));
  const args = [
    "--import",
    "tsx",
    join(root, "src/cli/main.ts"),
    "serve",
    "--nodes",
    String(o.nodes ?? 1),
    "--data-dir",
    dataDir,
    ...LOOPBACK_ANY_PORTS,
    "--log-level",
    "info",
    ...extraArgs,
  ];
  const child = track(
    spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SWITCHBOARD_CONFIG: "" } }),
  );
  let log = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const timeoutMs = o.timeoutMs ?? 20_000;
  const started = new Promise<{ api: string; nodes: { tcpAddr: string; wsAddr: string; wssAddr: string }[] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within ${timeoutMs} ms:\n${log}`)), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} while starting:\n${log}`));
    });
    let pending = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.includes('"switchboard started"')) continue;
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      log += chunk.toString();
    });
  });
  let addresses: Awaited<typeof started>;
  try {
    addresses = await started;
  } catch (err) {
    child.kill("SIGKILL");
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...apiClient(addresses.api),
    apiUrl: addresses.api,
    dataDir,
    nodes: addresses.nodes,
    child,
    output: () => log,
    rss: () => rssOf(child.pid),
    async stop() {
      if (alive(child)) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
