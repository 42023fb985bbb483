/** Assignment strategies that do not need a ring: round-robin, random, least-connections. */
import type { AssignmentStrategy } from "./assignment.js";
import { murmur3 } from "./hash32.js";
import type { NodeInfo } from "./node-registry.js";

/** Each call takes the next node of the list (sorted by id), whoever the user is. */
export class RoundRobinStrategy implements AssignmentStrategy {
  readonly name = "round-robin" as const;
  private next = 0;

  assign(_uid: string, nodes: readonly NodeInfo[]): NodeInfo | undefined {
    if (nodes.length === 0) return undefined;
    const node = nodes[this.next % nodes.length];
    // Kept small so it never loses precision; the cycle position survives node-count changes.
    this.next = (this.next + 1) % 0x4000_0000;
    return node;
  }
}

export interface RandomStrategyOptions {
  /** A number in [0, 1); Math.random unless a test wants it seeded. */
  random?: () => number;
}

export class RandomStrategy implements AssignmentStrategy {
  readonly name = "random" as const;
  private readonly random: () => number;

  constructor(options: RandomStrategyOptions = {}) {
    this.random = options.random ?? Math.random;
  }

  assign(_uid: string, nodes: readonly NodeInfo[]): NodeInfo | undefined {
    if (nodes.length === 0) return undefined;
    const i = Math.floor(this.random() * nodes.length);
    return nodes[Math.min(Math.max(i, 0), nodes.length - 1)];
  }
}

/**
 * The node with the fewest connections. Ties (e.g. a fresh cluster, or loads not yet refreshed
 * by heartbeats) are broken by a hash of the uid, so a burst of logins spreads instead of
 * piling onto the first node.
 */
export class LeastConnectionsStrategy implements AssignmentStrategy {
  readonly name = "least-connections" as const;

  assign(uid: string, nodes: readonly NodeInfo[]): NodeInfo | undefined {
    if (nodes.length === 0) return undefined;
    let min = Number.POSITIVE_INFINITY;
    for (const node of nodes) min = Math.min(min, node.connections);
    const tied = nodes.filter((node) => node.connections === min);
    if (tied.length === 0) return nodes[0];
    if (tied.length === 1) return tied[0];
    tied.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return tied[murmur3(uid) % tied.length];
  }
}
