/** Pieces shared by the NodeRegistry backends. */
import { InvalidArgumentError } from "../util/errors.js";
import type { NodeInfo } from "./node-registry.js";

/**
 * How often a registry looks for nodes whose TTL passed and tells watchers they left. On Redis
 * this only reads the expired end of the lease index (O(log N + expired)), not the whole registry.
 */
export const REGISTRY_SWEEP_MS = 1_000;

/**
 * How often a Redis registry's watch re-reads the whole registry to repair what pub/sub lost
 * (at-most-once). Events carry joins, leaves and address changes; this only catches misses.
 */
export const REGISTRY_RESYNC_MS = 30_000;

export function checkAnnounce(node: NodeInfo, ttlMs: number): void {
  if (typeof node?.id !== "string" || node.id.length === 0) throw new InvalidArgumentError("node id must be a non-empty string");
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new InvalidArgumentError(`ttlMs must be a positive integer, got ${ttlMs}`);
}

/**
 * The node's identity as JSON with keys sorted: everything but the load figures (connections,
 * lastSeen), which change with every heartbeat. Two announces with the same identity give the
 * same string, so a heartbeat with a new connection count is not an "update" event: with N nodes
 * each heartbeating, pushing load as events would cost N² deliveries per heartbeat period.
 */
export function nodeContentKey(node: NodeInfo): string {
  const { lastSeen: _lastSeen, connections: _connections, ...identity } = node;
  return stableStringify(identity);
}

/** Same identity (addresses, apiUrl, startedAt, ...): a difference is an "update" event. */
export function sameNodeContent(a: NodeInfo, b: NodeInfo): boolean {
  return nodeContentKey(a) === nodeContentKey(b);
}

/** The connection count as stored (a finite number; anything else counts as 0). */
export function loadOf(node: NodeInfo): number {
  return Number.isFinite(node.connections) ? node.connections : 0;
}

export function sortById(nodes: NodeInfo[]): NodeInfo[] {
  return nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function stableStringify(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`).join(",")}}`;
}
