import { UnavailableError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import { MemoryClusterHub, type MemoryRegistryState } from "./memory-hub.js";
import { REGISTRY_SWEEP_MS, checkAnnounce, sameNodeContent, sortById } from "./node-registry-common.js";
import type { NodeEvent, NodeInfo, NodeRegistry } from "./node-registry.js";

export interface MemoryNodeRegistryOptions {
  /** Shared with the other "nodes" of an in-process cluster; a fresh one when omitted. */
  hub?: MemoryClusterHub;
  /** How often expired nodes are removed and announced as left. */
  sweepMs?: number;
  logger?: Logger;
  now?: () => number;
}

/** NodeRegistry in process memory. Events are delivered synchronously, each listener isolated. */
export class MemoryNodeRegistry implements NodeRegistry {
  private readonly state: MemoryRegistryState;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly own = new Set<(event: NodeEvent) => void>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(options: MemoryNodeRegistryOptions = {}) {
    this.state = (options.hub ?? new MemoryClusterHub()).registry;
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => this.sweep(), options.sweepMs ?? REGISTRY_SWEEP_MS);
    this.timer.unref();
  }

  async announce(node: NodeInfo, ttlMs: number): Promise<void> {
    this.checkOpen();
    checkAnnounce(node, ttlMs);
    const now = this.now();
    const seen: NodeInfo = { ...node, external: { ...node.external }, intranet: { ...node.intranet }, lastSeen: now };
    const old = this.state.nodes.get(node.id);
    this.state.nodes.set(node.id, { node: seen, expiresAt: now + ttlMs });
    if (!old || old.expiresAt <= now) this.emit({ type: "join", node: copy(seen) });
    else if (!sameNodeContent(old.node, seen)) this.emit({ type: "update", node: copy(seen) });
  }

  async withdraw(nodeId: string): Promise<void> {
    this.checkOpen();
    if (this.state.nodes.delete(nodeId)) this.emit({ type: "leave", nodeId });
  }

  async list(): Promise<NodeInfo[]> {
    this.checkOpen();
    this.sweep();
    return sortById([...this.state.nodes.values()].map((e) => copy(e.node)));
  }

  watch(listener: (event: NodeEvent) => void): () => void {
    this.checkOpen();
    // Wrap so the same function can watch twice and each unsubscribe removes only its own.
    const wrapped = (event: NodeEvent) => listener(event);
    this.own.add(wrapped);
    this.state.listeners.add(wrapped);
    return () => {
      this.own.delete(wrapped);
      this.state.listeners.delete(wrapped);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const l of this.own) this.state.listeners.delete(l);
    this.own.clear();
  }

  /** Remove expired nodes; any instance sharing the hub may do it, the leave is emitted once. */
  private sweep(): void {
    const now = this.now();
    for (const [id, entry] of this.state.nodes) {
      if (entry.expiresAt <= now) {
        this.state.nodes.delete(id);
        this.emit({ type: "leave", nodeId: id });
      }
    }
  }

  private emit(event: NodeEvent): void {
    for (const listener of [...this.state.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ err, event: event.type }, "node registry listener threw");
      }
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new UnavailableError("node registry is closed");
  }
}

function copy(node: NodeInfo): NodeInfo {
  return { ...node, external: { ...node.external }, intranet: { ...node.intranet } };
}
