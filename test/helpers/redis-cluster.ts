/**
 * A real Redis Cluster for tests: 6 `redis-server` processes (3 masters + 3 replicas) on free
 * loopback ports, each in its own temp folder, joined as `redis-cli --cluster create
 * --cluster-replicas 1` would (by its commands, without its one-second pauses). Resolves once every
 * node says cluster_state:ok, all 16384 slots are assigned, every node knows the 5 others, they
 * agree on the masters and every replica's link to its master is up (so a killed master can fail
 * over). About 2 s: a master turns ok no sooner than 2 s after it started (Redis's writable delay).
 *
 * Every process is tracked and SIGKILLed when the test process exits, so a failing or cancelled
 * test leaves no orphan. Nodes can be killed (-9) and restarted on the same port and folder: the
 * node keeps its id (nodes.conf) and rejoins, as a replica when its slots failed over meanwhile.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { Redis } from "ioredis";
import { freePort, portOpen } from "./services.js";
import { sleep, until } from "./wait.js";

/** Milliseconds a node may be unreachable before the others mark it failed (and fail over). */
export const REDIS_CLUSTER_NODE_TIMEOUT_MS = 2_000;

export interface RedisClusterNode {
  port: number;
  /** The current process id (a new one after restart()). */
  readonly pid: number;
  /** What the node says it is now (ROLE). Rejects when the node is down. */
  role(): Promise<"master" | "replica">;
  /** SIGKILL; resolves once the process is gone. Its folder (nodes.conf) is kept for restart(). */
  kill9(): Promise<void>;
  /** Starts it again on the same port and folder; resolves once it is back in an ok cluster. */
  restart(): Promise<void>;
}

export interface RedisClusterHandle {
  /** redis://127.0.0.1:<port> of every node. */
  urls: string[];
  /** All node URLs comma-separated: seeds, as --redis takes them. */
  url: string;
  nodes: RedisClusterNode[];
  /** Ports of the nodes that are masters now (running nodes only). */
  masters(): Promise<number[]>;
  /**
   * Resolves once the running nodes are settled: each says cluster_state:ok with all slots
   * assigned, they agree on the masters, no master is a killed node (a kill9'd master has failed
   * over) and every replica's link is up. Called by start, restart() and flushAndReset().
   */
  waitSettled(timeoutMs?: number): Promise<void>;
  /** FLUSHALL on every master, then waits until the cluster is ok again. */
  flushAndReset(): Promise<void>;
  /** SIGKILL every node and remove the folders. */
  stop(): Promise<void>;
}

// ---- child tracking (shared with nats-cluster.ts) ----

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** A temp folder removed when this process exits (if stop() did not remove it before). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  installExitHook();
  return dir;
}

/**
 * Remember a child so it is SIGKILLed when this process exits, whatever the outcome of the tests.
 * The child is unref'd: one a test failed to stop (a `before` that threw half-way) does not keep
 * the test process alive; it dies with it.
 */
export function trackChild(child: ChildProcess): ChildProcess {
  children.add(child);
  child.unref();
  child.once("exit", () => children.delete(child));
  installExitHook();
  return child;
}

/** `n` distinct ports free on 127.0.0.1 right now. */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Waits for an unref'd child's exit while keeping the event loop alive meanwhile. */
export async function exitOf(exited: Promise<void>): Promise<void> {
  const keepAlive = setInterval(() => {}, 1_000);
  try {
    await exited;
  } finally {
    clearInterval(keepAlive);
  }
}

/** The last lines of a server's log, for a failure message. */
export function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Spawns a server (tracked). `ready` resolves once it accepts connections on `port`, and fails
 * with the end of its log if it exits first; the caller kills it when `ready` fails.
 */
export function spawnListening(o: {
  command: string;
  args: string[];
  cwd: string;
  port: number;
  log: string;
  timeoutMs: number;
  everyMs: number;
}): { child: ChildProcess; exited: Promise<void>; ready: Promise<number> } {
  const child = trackChild(spawn(o.command, o.args, { cwd: o.cwd, stdio: "ignore" }));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const ready = until(
    `${o.command} on ${o.port}`,
    () => {
      if (gone) throw new Error(`${o.command} on ${o.port} exited while starting:\n${tail(o.log)}`);
      return portOpen(o.port);
    },
    o.timeoutMs,
    o.everyMs,
  );
  return { child, exited, ready };
}

/** Whether `cmd` is an executable on PATH (or a path to one). */
export function onPath(cmd: string): boolean {
  if (cmd.includes("/")) return existsSync(cmd);
  return (process.env.PATH ?? "/usr/bin:/bin:/usr/sbin:/sbin")
    .split(delimiter)
    .concat(["/usr/sbin", "/usr/local/sbin"])
    .some((dir) => dir && existsSync(join(dir, cmd)));
}

/** Skip reason when `commands` are missing; in CI (CI=true) a missing command throws instead. */
export function missingCommands(what: string, commands: string[]): false | string {
  const missing = commands.filter((c) => !onPath(c));
  if (missing.length === 0) return false;
  const reason = `${what} needs ${missing.join(" and ")} (not found on PATH)`;
  if (process.env.CI === "true") throw new Error(`${reason} (required in CI)`);
  console.log(`# skipping: ${reason}`);
  return reason;
}

// ---- Redis Cluster ----

/** `false` when a Redis Cluster can be started here, else the reason (for node:test's `skip`). */
export function redisClusterUnavailable(): false | string {
  return missingCommands("a Redis Cluster", ["redis-server"]);
}

/** One command on one node over a short-lived connection (no retries: a down node rejects). */
async function command(port: number, args: string[], timeoutMs = 2_000): Promise<unknown> {
  const r = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  r.on("error", () => {});
  try {
    await r.connect();
    return await r.call(args[0], ...args.slice(1));
  } finally {
    r.disconnect();
  }
}

function fields(info: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

/**
 * The masters as the node on `port` sees them (CLUSTER NODES): "ip:port" of each node flagged
 * master and not (agreed) failed. A node only suspected (fail?) still counts.
 */
async function mastersSeenBy(port: number): Promise<string[]> {
  const lines = String(await command(port, ["CLUSTER", "NODES"]))
    .split("\n")
    .filter(Boolean);
  const out: string[] = [];
  for (const line of lines) {
    const [, addr, flags] = line.split(" ");
    const f = flags.split(",");
    if (f.includes("master") && !f.includes("fail") && !f.includes("handshake") && !f.includes("noaddr")) out.push(addr.split("@")[0]);
  }
  return out.sort();
}

/** Why the node on `port` is not yet a settled member of a `size`-node cluster, or undefined when it is. */
async function notReady(port: number, size: number): Promise<string | undefined> {
  try {
    const info = fields(String(await command(port, ["CLUSTER", "INFO"])));
    if (info.get("cluster_state") !== "ok") return `cluster_state:${info.get("cluster_state")}`;
    if (info.get("cluster_slots_assigned") !== "16384") return `cluster_slots_assigned:${info.get("cluster_slots_assigned")}`;
    if (info.get("cluster_slots_fail") !== "0") return `cluster_slots_fail:${info.get("cluster_slots_fail")}`;
    if (Number(info.get("cluster_known_nodes")) < size) return `cluster_known_nodes:${info.get("cluster_known_nodes")}`;
    const repl = fields(String(await command(port, ["INFO", "replication"])));
    if (repl.get("role") === "slave" && repl.get("master_link_status") !== "up") return `replica link ${repl.get("master_link_status")}`;
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * What `redis-cli --cluster create … --cluster-replicas 1` does, without its one-second pauses:
 * slots split in three over the first three nodes, distinct config epochs, every node MEETs the
 * first, then each of the last three replicates one master once it knows it.
 */
async function createCluster(nodes: ClusterNodeProcess[], timeoutMs: number): Promise<void> {
  const masters = nodes.slice(0, nodes.length / 2);
  const replicas = nodes.slice(nodes.length / 2);
  const per = Math.floor(16384 / masters.length);
  await Promise.all(
    masters.map((m, i) =>
      command(m.port, ["CLUSTER", "ADDSLOTSRANGE", String(i * per), String(i === masters.length - 1 ? 16383 : (i + 1) * per - 1)]),
    ),
  );
  await Promise.all(nodes.map((n, i) => command(n.port, ["CLUSTER", "SET-CONFIG-EPOCH", String(i + 1)])));
  const [first, ...rest] = nodes;
  await Promise.all(rest.map((n) => command(n.port, ["CLUSTER", "MEET", "127.0.0.1", String(first.port), String(first.busPort)])));
  const ids = await Promise.all(masters.map(async (m) => String(await command(m.port, ["CLUSTER", "MYID"]))));
  await until(
    "every Redis Cluster node to know the others",
    async () => {
      const views = await Promise.all(replicas.map((r) => command(r.port, ["CLUSTER", "NODES"]).then(String)));
      return views.every((v) => ids.every((id) => v.split("\n").some((l) => l.startsWith(`${id} `) && !l.includes("handshake"))));
    },
    timeoutMs,
    20,
  );
  await Promise.all(replicas.map((r, i) => command(r.port, ["CLUSTER", "REPLICATE", ids[i]])));
}

class ClusterNodeProcess implements RedisClusterNode {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly port: number,
    readonly busPort: number,
    readonly dir: string,
    private readonly cluster: { waitSettled(): Promise<void> },
  ) {}

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get log(): string {
    return join(this.dir, "redis.log");
  }

  /** Spawns the process; resolves once it accepts connections. */
  async spawn(timeoutMs = 10_000): Promise<void> {
    // cwd is the node's folder: nodes.conf and the log go there.
    const args = [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      "nodes.conf",
      "--cluster-port",
      String(this.busPort),
      "--cluster-node-timeout",
      String(REDIS_CLUSTER_NODE_TIMEOUT_MS),
      // A replica may fail over however long ago it last heard its master (tests kill at will).
      "--cluster-replica-validity-factor",
      "0",
      // A replica's first sync starts at once (the default waits 5 s for more replicas).
      "--repl-diskless-sync-delay",
      "0",
      "--appendonly",
      "no",
      "--save",
      "",
      "--dir",
      this.dir,
      "--logfile",
      "redis.log",
    ];
    const server = spawnListening({ command: "redis-server", args, cwd: this.dir, port: this.port, log: this.log, timeoutMs, everyMs: 20 });
    this.child = server.child;
    this.exited = server.exited;
    try {
      await server.ready;
    } catch (err) {
      await this.kill9();
      throw err;
    }
  }

  async role(): Promise<"master" | "replica"> {
    const reply = (await command(this.port, ["ROLE"])) as unknown[];
    return String(reply[0]) === "master" ? "master" : "replica";
  }

  async kill9(): Promise<void> {
    if (this.running) this.child!.kill("SIGKILL");
    await exitOf(this.exited);
  }

  async restart(): Promise<void> {
    await this.kill9();
    await this.spawn();
    await this.cluster.waitSettled();
  }
}

/**
 * Starts the cluster. `readyTimeoutMs` bounds each wait for the cluster to settle (start, restart,
 * flushAndReset).
 */
export async function startRedisCluster(o: { readyTimeoutMs?: number } = {}): Promise<RedisClusterHandle> {
  const readyTimeoutMs = o.readyTimeoutMs ?? 20_000;
  const size = 6;
  // Client ports and cluster bus ports all from the OS (port + 10000 may be out of range or taken).
  const ports = await freePorts(size * 2);
  const nodes: ClusterNodeProcess[] = [];
  const waitSettled = async (timeoutMs = readyTimeoutMs) => {
    let why: string[] = [];
    try {
      await until(
        "the Redis Cluster to settle",
        async () => {
          const live = nodes.filter((n) => n.running);
          if (live.length === 0) throw new Error("no Redis Cluster node is running");
          const reasons = await Promise.all(live.map((n) => notReady(n.port, size)));
          why = reasons.flatMap((r, i) => (r ? [`${live[i].port}: ${r}`] : []));
          if (why.length > 0) return false;
          const views = await Promise.all(live.map((n) => mastersSeenBy(n.port).catch((err: Error) => [err.message])));
          const first = views[0].join(",");
          if (views.some((v) => v.join(",") !== first)) {
            why = views.map((v, i) => `${live[i].port} sees masters ${v.join(",")}`);
            return false;
          }
          const running = new Set(live.map((n) => `127.0.0.1:${n.port}`));
          const dead = views[0].filter((m) => !running.has(m));
          if (dead.length > 0) {
            why = [`killed master(s) ${dead.join(",")} not failed over yet`];
            return false;
          }
          return true;
        },
        timeoutMs,
        50,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message} (${why.join("; ")})`);
    }
  };
  const shared = { waitSettled: () => waitSettled() };
  for (let i = 0; i < size; i++) {
    nodes.push(new ClusterNodeProcess(ports[i], ports[size + i], tempDir("switchboard-redis-cluster-"), shared));
  }

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(nodes.map((n) => n.kill9()));
    for (const n of nodes) rmSync(n.dir, { recursive: true, force: true });
  };

  try {
    await Promise.all(nodes.map((n) => n.spawn()));
    await createCluster(nodes, readyTimeoutMs);
    await waitSettled();
  } catch (err) {
    const logs = nodes.map((n) => `--- ${n.port}\n${tail(n.log, 5)}`).join("\n");
    await stop();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }

  const urls = nodes.map((n) => `redis://127.0.0.1:${n.port}`);
  const masters = async () => {
    const live = nodes.filter((n) => n.running);
    const roles = await Promise.all(live.map((n) => n.role().catch(() => undefined)));
    return live.filter((_, i) => roles[i] === "master").map((n) => n.port);
  };
  return {
    urls,
    url: urls.join(","),
    nodes,
    masters,
    async flushAndReset() {
      for (const port of await masters()) await command(port, ["FLUSHALL"]);
      // Replication of the flush is asynchronous: wait until every replica is empty too.
      await until(
        "every node to be empty after FLUSHALL",
        async () => {
          const sizes = await Promise.all(nodes.filter((n) => n.running).map((n) => command(n.port, ["DBSIZE"]).catch(() => -1)));
          return sizes.every((s) => Number(s) === 0);
        },
        readyTimeoutMs,
        20,
      );
      await waitSettled();
    },
    waitSettled,
    stop,
  };
}

/** Convenience for ad-hoc runs: `npx tsx test/helpers/redis-cluster.ts` starts one, prints it, stops it. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = Date.now();
  const c = await startRedisCluster();
  console.log(`ready in ${Date.now() - t0} ms: ${c.url}; masters ${(await c.masters()).join(",")}`);
  await sleep(10);
  await c.stop();
}
