/** Pieces shared by the NodeRegistry backends. */
import { InvalidArgumentError } from "../util/errors.js";
import type { NodeInfo } from "./node-registry.js";

/** How often a registry removes nodes whose TTL passed and tells watchers they left. */
export const REGISTRY_SWEEP_MS = 1_000;

export function checkAnnounce(node: NodeInfo, ttlMs: number): void {
  if (typeof node?.id !== "string" || node.id.length === 0) throw new InvalidArgumentError("node id must be a non-empty string");
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new InvalidArgumentError(`ttlMs must be a positive integer, got ${ttlMs}`);
}

/**
 * The node as JSON with keys sorted and lastSeen left out: two announces with the same content
 * give the same string, so a heartbeat that changes nothing is not an "update".
 */
export function nodeContentKey(node: NodeInfo): string {
  const { lastSeen: _lastSeen, ...content } = node;
  return stableStringify(content);
}

export function sameNodeContent(a: NodeInfo, b: NodeInfo): boolean {
  return nodeContentKey(a) === nodeContentKey(b);
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
