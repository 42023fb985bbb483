/**
 * A real NATS cluster for tests: `n` nats-server processes on free loopback ports, each with a
 * config file in its own temp folder: a client port, a monitoring port and a `cluster {}` block
 * routing to all the others. Resolves once every server reports a route to each other one
 * (monitoring /routez). Servers can be killed (-9) and restarted on the same ports.
 *
 * Every process is tracked and SIGKILLed when the test process exits.
 */
import type { ChildProcess } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exitOf, freePorts, missingCommands, spawnListening, tail, tempDir } from "./redis-cluster.js";
import { until } from "./wait.js";

export interface NatsClusterServer {
  /** Client port (nats://127.0.0.1:<port>). */
  port: number;
  /** Monitoring port (http://127.0.0.1:<monitorPort>/routez …). */
  monitorPort: number;
  /** The current process id (a new one after restart()). */
  readonly pid: number;
  /** Routes this server has now (monitoring /routez); rejects when it is down. */
  routes(): Promise<number>;
  /** SIGKILL; resolves once the process is gone. */
  kill9(): Promise<void>;
  /** Starts it again on the same ports; resolves once its routes to the running servers are up. */
  restart(): Promise<void>;
}

export interface NatsClusterHandle {
  /** nats://127.0.0.1:<port> of every server. */
  urls: string[];
  /** All server URLs comma-separated, as --nats takes them. */
  url: string;
  servers: NatsClusterServer[];
  /** Resolves once every running server has a route to every other running one. */
  waitRoutes(timeoutMs?: number): Promise<void>;
  /**
   * Resolves once every other running server knows, over its route to the server on
   * `subscriberPort`, of a subscription to `subject` there. Interest crosses the routes
   * asynchronously: until then a publish on another server may find no subscriber and be dropped.
   */
  waitForInterest(subject: string, subscriberPort: number, timeoutMs?: number): Promise<void>;
  /** SIGKILL every server and remove the folders. */
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /**
   * Whether servers tell clients about the other servers (connect_urls gossip; the NATS default).
   * Off, a client only knows the servers it was given: tests of a URL list turn it off.
   */
  advertise?: boolean;
  /** Bound on each wait for routes (start, restart). Default 15 s. */
  readyTimeoutMs?: number;
}

/** `false` when a NATS cluster can be started here, else the reason (for node:test's `skip`). */
export function natsClusterUnavailable(): false | string {
  return missingCommands("a NATS cluster", ["nats-server"]);
}

class NatsServerProcess implements NatsClusterServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly port: number,
    readonly monitorPort: number,
    readonly dir: string,
    private readonly waitRoutes: () => Promise<void>,
  ) {}

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get log(): string {
    return join(this.dir, "nats.log");
  }

  async spawn(timeoutMs = 10_000): Promise<void> {
    const args = ["-c", join(this.dir, "nats.conf")];
    const server = spawnListening({ command: "nats-server", args, cwd: this.dir, port: this.port, log: this.log, timeoutMs, everyMs: 10 });
    this.child = server.child;
    this.exited = server.exited;
    try {
      await server.ready;
    } catch (err) {
      await this.kill9();
      throw err;
    }
  }

  async routes(): Promise<number> {
    return (await this.routez(false)).num_routes ?? 0;
  }

  /** Monitoring /routez: this server's id and, with `subs`, the subjects each route's peer is interested in. */
  async routez(subs: boolean): Promise<Routez> {
    const res = await fetch(`http://127.0.0.1:${this.monitorPort}/routez${subs ? "?subs=1" : ""}`, { signal: AbortSignal.timeout(2_000) });
    return (await res.json()) as Routez;
  }

  async kill9(): Promise<void> {
    if (this.running) this.child!.kill("SIGKILL");
    await exitOf(this.exited);
  }

  async restart(): Promise<void> {
    await this.kill9();
    await this.spawn();
    await this.waitRoutes();
  }
}

interface Routez {
  server_id: string;
  num_routes?: number;
  routes?: { remote_id: string; subscriptions_list?: string[] }[];
}

export async function startNatsCluster(n = 3, o: NatsClusterOptions = {}): Promise<NatsClusterHandle> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`a NATS cluster needs at least one server, not ${n}`);
  const readyTimeoutMs = o.readyTimeoutMs ?? 15_000;
  const advertise = o.advertise ?? true;
  const ports = await freePorts(n * 3);
  const clientPorts = ports.slice(0, n);
  const monitorPorts = ports.slice(n, 2 * n);
  const routePorts = ports.slice(2 * n);
  const name = `sbtest_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const servers: NatsServerProcess[] = [];

  const waitRoutes = async (timeoutMs = readyTimeoutMs) => {
    let counts: string[] = [];
    try {
      await until(
        "the NATS cluster routes",
        async () => {
          const live = servers.filter((s) => s.running);
          if (live.length === 0) throw new Error("no NATS server is running");
          const routes = await Promise.all(live.map((s) => s.routes().catch(() => -1)));
          counts = routes.map((r, i) => `${live[i].port}: ${r}`);
          return routes.every((r) => r === live.length - 1);
        },
        timeoutMs,
        10,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message} (routes per server: ${counts.join(", ")})`);
    }
  };

  for (let i = 0; i < n; i++) {
    const dir = tempDir("switchboard-nats-cluster-");
    const routes = routePorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`);
    writeFileSync(
      join(dir, "nats.conf"),
      [
        `server_name: ${name}_${i + 1}`,
        `listen: "127.0.0.1:${clientPorts[i]}"`,
        `http: "127.0.0.1:${monitorPorts[i]}"`,
        `log_file: "${join(dir, "nats.log")}"`,
        "cluster {",
        `  name: ${name}`,
        `  listen: "127.0.0.1:${routePorts[i]}"`,
        `  no_advertise: ${!advertise}`,
        `  routes: [${routes.map((r) => `"${r}"`).join(", ")}]`,
        "}",
        "",
      ].join("\n"),
    );
    servers.push(new NatsServerProcess(clientPorts[i], monitorPorts[i], dir, () => waitRoutes()));
  }

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(servers.map((s) => s.kill9()));
    for (const s of servers) rmSync(s.dir, { recursive: true, force: true });
  };

  try {
    await Promise.all(servers.map((s) => s.spawn()));
    await waitRoutes();
  } catch (err) {
    const logs = servers.map((s) => `--- ${s.port}\n${tail(s.log, 5)}`).join("\n");
    await stop();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }

  const waitForInterest = async (subject: string, subscriberPort: number, timeoutMs = 5_000) => {
    const home = servers.find((s) => s.port === subscriberPort);
    if (!home) throw new Error(`no server of this cluster listens on ${subscriberPort}`);
    await until(
      `interest in ${subject} on ${subscriberPort} to reach the other servers`,
      async () => {
        const homeId = (await home.routez(false)).server_id;
        const others = servers.filter((s) => s !== home && s.running);
        const views = await Promise.all(others.map((s) => s.routez(true)));
        return views.every((v) => (v.routes ?? []).some((r) => r.remote_id === homeId && (r.subscriptions_list ?? []).includes(subject)));
      },
      timeoutMs,
      5,
    );
  };

  const urls = clientPorts.map((p) => `nats://127.0.0.1:${p}`);
  return { urls, url: urls.join(","), servers, waitRoutes, waitForInterest, stop };
}
