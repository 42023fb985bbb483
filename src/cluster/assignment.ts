import type { NodeInfo } from "./node-registry.js";

/**
 * Picks the node a user should connect to. Strategies: consistent hash with virtual nodes
 * (default), consistent hash with bounded loads, round-robin, random, least-connections.
 * Contract: test/contract/assignment.contract.ts.
 */
export interface AssignmentStrategy {
  readonly name: StrategyName;
  /** One of `nodes` (never empty, sorted by id), or undefined when `nodes` is empty. */
  assign(uid: string, nodes: readonly NodeInfo[]): NodeInfo | undefined;
}

export type StrategyName = "consistent-hash" | "bounded-hash" | "round-robin" | "random" | "least-connections";

export const STRATEGY_NAMES: readonly StrategyName[] = ["consistent-hash", "bounded-hash", "round-robin", "random", "least-connections"];
