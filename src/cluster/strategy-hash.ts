/**
 * Consistent hashing with virtual nodes, and its bounded-load variant (Mirrokni, Thorup,
 * Zadimoghaddam, "Consistent Hashing with Bounded Loads"). Adding or removing a node moves only
 * about 1/n of the users; bounded loads additionally keep every node under (1+ε)·average.
 */
import { InvalidArgumentError } from "../util/errors.js";
import type { AssignmentStrategy } from "./assignment.js";
import { murmur3 } from "./hash32.js";
import type { NodeInfo } from "./node-registry.js";

export const DEFAULT_VIRTUAL_NODES = 160;
export const DEFAULT_LOAD_EPSILON = 0.25;
/** Ring points are hash * OWNER_SPACE + owner index, sorted as one Float64Array (< 2^53). */
const OWNER_SPACE = 0x10_0000;

/** A ring over a fixed set of node ids (sorted); owners[i] indexes `ids`. */
export class HashRing {
  readonly points: Uint32Array;
  readonly owners: Uint32Array;

  constructor(
    readonly ids: readonly string[],
    virtualNodes: number,
  ) {
    if (ids.length >= OWNER_SPACE) throw new InvalidArgumentError(`at most ${OWNER_SPACE - 1} nodes on a ring`);
    const keys = new Float64Array(ids.length * virtualNodes);
    let k = 0;
    ids.forEach((id, owner) => {
      for (let v = 0; v < virtualNodes; v++) keys[k++] = murmur3(`${id}#${v}`) * OWNER_SPACE + owner;
    });
    // Equal hashes order by owner index, so the ring is the same whatever order nodes came in.
    keys.sort();
    this.points = new Uint32Array(keys.length);
    this.owners = new Uint32Array(keys.length);
    keys.forEach((key, i) => {
      const owner = key % OWNER_SPACE;
      this.owners[i] = owner;
      this.points[i] = (key - owner) / OWNER_SPACE;
    });
  }

  /** Index of the first point at or after `hash`, wrapping to 0. */
  locate(hash: number): number {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid] < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.points.length ? 0 : lo;
  }
}

/**
 * The ring for the current node set, rebuilt only when the set of ids changes (loads change on
 * every heartbeat, ids rarely). `byOwner` maps ring owners to the NodeInfo objects of the call.
 */
class RingCache {
  private ring: HashRing | undefined;
  private ringKey = "";
  private lastInput: readonly NodeInfo[] | undefined;
  private byOwner: NodeInfo[] = [];

  constructor(private readonly virtualNodes: number) {}

  view(nodes: readonly NodeInfo[]): { ring: HashRing; byOwner: NodeInfo[] } {
    if (nodes !== this.lastInput || !this.ring) {
      const byId = new Map<string, NodeInfo>();
      for (const node of nodes) if (!byId.has(node.id)) byId.set(node.id, node);
      const ids = [...byId.keys()].sort();
      const key = ids.join("\u0000");
      if (!this.ring || key !== this.ringKey) {
        this.ring = new HashRing(ids, this.virtualNodes);
        this.ringKey = key;
      }
      this.byOwner = ids.map((id) => byId.get(id)!);
      this.lastInput = nodes;
    }
    return { ring: this.ring, byOwner: this.byOwner };
  }
}

export interface ConsistentHashOptions {
  /** Ring points per node; more spread users more evenly at the cost of memory. */
  virtualNodes?: number;
}

function checkVirtualNodes(n: number | undefined): number {
  const v = n ?? DEFAULT_VIRTUAL_NODES;
  if (!Number.isInteger(v) || v < 1 || v > 10_000) throw new InvalidArgumentError(`virtualNodes must be an integer 1..10000, got ${v}`);
  return v;
}

export class ConsistentHashStrategy implements AssignmentStrategy {
  readonly name = "consistent-hash" as const;
  private readonly cache: RingCache;

  constructor(options: ConsistentHashOptions = {}) {
    this.cache = new RingCache(checkVirtualNodes(options.virtualNodes));
  }

  assign(uid: string, nodes: readonly NodeInfo[]): NodeInfo | undefined {
    if (nodes.length === 0) return undefined;
    const { ring, byOwner } = this.cache.view(nodes);
    return byOwner[ring.owners[ring.locate(murmur3(uid))]];
  }
}

export interface BoundedLoadHashOptions extends ConsistentHashOptions {
  /** Allowed excess over the average load: a node takes a user only below ceil((1+ε)·avg). */
  epsilon?: number;
}

/**
 * Walks the ring from the user's point past nodes already at capacity, where capacity is
 * ceil((1+ε)·average) and the average counts the user being placed. Such a node always exists,
 * since not every node can be above the average. With fresh loads a user keeps its node.
 */
export class BoundedLoadHashStrategy implements AssignmentStrategy {
  readonly name = "bounded-hash" as const;
  private readonly cache: RingCache;
  private readonly epsilon: number;

  constructor(options: BoundedLoadHashOptions = {}) {
    this.cache = new RingCache(checkVirtualNodes(options.virtualNodes));
    this.epsilon = options.epsilon ?? DEFAULT_LOAD_EPSILON;
    if (!Number.isFinite(this.epsilon) || this.epsilon < 0) throw new InvalidArgumentError(`epsilon must be >= 0, got ${this.epsilon}`);
  }

  /** The most connections a node may have after taking one more user. */
  capacity(nodes: readonly NodeInfo[]): number {
    let total = 0;
    for (const node of nodes) total += load(node);
    return Math.ceil(((1 + this.epsilon) * (total + 1)) / nodes.length);
  }

  assign(uid: string, nodes: readonly NodeInfo[]): NodeInfo | undefined {
    if (nodes.length === 0) return undefined;
    const { ring, byOwner } = this.cache.view(nodes);
    const cap = this.capacity(byOwner);
    const seen = new Uint8Array(byOwner.length);
    const start = ring.locate(murmur3(uid));
    let visited = 0;
    for (let step = 0; step < ring.points.length && visited < byOwner.length; step++) {
      const owner = ring.owners[(start + step) % ring.points.length];
      if (seen[owner]) continue;
      seen[owner] = 1;
      visited++;
      if (load(byOwner[owner]) + 1 <= cap) return byOwner[owner];
    }
    // Only reachable with odd loads (negative, NaN): fall back to the least loaded.
    return byOwner.reduce((best, node) => (load(node) < load(best) ? node : best));
  }
}

function load(node: NodeInfo): number {
  const n = node.connections;
  return Number.isFinite(n) && n > 0 ? n : 0;
}
