import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import type { NodeInfo, NodeRegistry } from "./node-registry.js";

/** How often the directory re-reads the whole registry, in case a watch event was missed. */
export const DIRECTORY_RESYNC_MS = 5_000;

export interface NodeDirectoryOptions {
  registry: NodeRegistry;
  logger?: Logger;
  resyncMs?: number;
}

/**
 * A local, always-ready copy of the live node list, kept by the registry's watch events and a
 * periodic re-read, so routing a request never waits on Redis.
 */
export class NodeDirectory {
  private readonly registry: NodeRegistry;
  private readonly logger: Logger;
  private readonly byId = new Map<string, NodeInfo>();
  private sorted: NodeInfo[] = [];
  private unwatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: NodeDirectoryOptions) {
    this.registry = options.registry;
    this.logger = options.logger ?? silentLogger;
    this.resyncMs = options.resyncMs ?? DIRECTORY_RESYNC_MS;
  }
  private readonly resyncMs: number;

  async start(): Promise<void> {
    this.unwatch = this.registry.watch((event) => {
      if (event.type === "leave") this.byId.delete(event.nodeId);
      else this.byId.set(event.node.id, event.node);
      this.rebuild();
    });
    await this.resync();
    this.timer = setInterval(() => {
      this.resync().catch((err) => this.logger.warn({ err }, "node directory resync failed"));
    }, this.resyncMs);
    this.timer.unref();
  }

  async resync(): Promise<void> {
    const nodes = await this.registry.list();
    this.byId.clear();
    for (const node of nodes) this.byId.set(node.id, node);
    this.rebuild();
  }

  /** Live nodes sorted by id. */
  nodes(): readonly NodeInfo[] {
    return this.sorted;
  }

  get(nodeId: string): NodeInfo | undefined {
    return this.byId.get(nodeId);
  }

  stop(): void {
    this.unwatch?.();
    if (this.timer) clearInterval(this.timer);
  }

  private rebuild(): void {
    this.sorted = [...this.byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
