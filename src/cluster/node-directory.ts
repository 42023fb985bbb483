import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import type { NodeInfo, NodeRegistry } from "./node-registry.js";

/**
 * How often the directory re-reads the whole registry in case a watch event was missed. Slow on
 * purpose: each re-read is O(N) for each of N processes; events carry joins and leaves meanwhile.
 */
export const DIRECTORY_RESYNC_MS = 30_000;
/**
 * How often connection counts are refreshed while someone reads the directory (the heartbeat
 * interval: fresher figures do not exist). Loads are not events, so they are read.
 */
export const DIRECTORY_LOAD_REFRESH_MS = 2_000;

export interface NodeDirectoryOptions {
  registry: NodeRegistry;
  logger?: Logger;
  resyncMs?: number;
  loadRefreshMs?: number;
}

/**
 * A local, always-ready copy of the live node list, kept by the registry's watch events (joins,
 * leaves, address changes) and a slow re-read, so routing a request never waits on Redis. Load
 * figures (connections, lastSeen) are refreshed on demand: only a process that reads the
 * directory (routing, /nodes, the dashboard) pays for one cheap read per refresh interval.
 */
export class NodeDirectory {
  private readonly registry: NodeRegistry;
  private readonly logger: Logger;
  private readonly resyncMs: number;
  private readonly loadRefreshMs: number;
  private readonly byId = new Map<string, NodeInfo>();
  private sorted: NodeInfo[] = [];
  private unwatch: (() => void) | undefined;
  private timers: NodeJS.Timeout[] = [];
  /** The directory was read since the last load refresh. */
  private wanted = false;
  private refreshing = false;

  constructor(options: NodeDirectoryOptions) {
    this.registry = options.registry;
    this.logger = options.logger ?? silentLogger;
    this.resyncMs = options.resyncMs ?? DIRECTORY_RESYNC_MS;
    this.loadRefreshMs = options.loadRefreshMs ?? DIRECTORY_LOAD_REFRESH_MS;
  }

  async start(): Promise<void> {
    this.unwatch = this.registry.watch((event) => {
      if (event.type === "leave") this.byId.delete(event.nodeId);
      else this.byId.set(event.node.id, event.node);
      this.rebuild();
    });
    await this.resync();
    const every = (ms: number, fn: () => Promise<void>, what: string) => {
      const timer = setInterval(() => fn().catch((err) => this.logger.warn({ err }, `node directory ${what} failed`)), ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.resyncMs, () => this.resync(), "resync");
    every(this.loadRefreshMs, () => this.refreshLoads(), "load refresh");
  }

  async resync(): Promise<void> {
    const nodes = await this.registry.list();
    this.byId.clear();
    for (const node of nodes) this.byId.set(node.id, node);
    this.rebuild();
  }

  /** Live nodes sorted by id; their loads are refreshed within a refresh interval of this call. */
  nodes(): readonly NodeInfo[] {
    this.wanted = true;
    return this.sorted;
  }

  /** One live node, for its identity (addresses, startedAt): this does not ask for fresh loads. */
  get(nodeId: string): NodeInfo | undefined {
    return this.byId.get(nodeId);
  }

  stop(): void {
    this.unwatch?.();
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  /** New connection counts for the nodes known live; a backend without loads() is re-listed. */
  private async refreshLoads(): Promise<void> {
    if (!this.wanted || this.refreshing) return;
    this.wanted = false;
    this.refreshing = true;
    try {
      if (!this.registry.loads) {
        await this.resync();
        return;
      }
      const loads = await this.registry.loads();
      let changed = false;
      for (const [id, node] of this.byId) {
        const load = loads.get(id);
        // Older than what an event or a resync brought meanwhile, or nothing new.
        if (!load || load.lastSeen <= node.lastSeen) continue;
        // A new object: callers may hold the old one.
        this.byId.set(id, { ...node, connections: load.connections, lastSeen: load.lastSeen });
        changed = true;
      }
      if (changed) this.rebuild();
    } finally {
      this.refreshing = false;
    }
  }

  private rebuild(): void {
    this.sorted = [...this.byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
