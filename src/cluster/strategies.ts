/** Builds an AssignmentStrategy by its configured name. */
import { ConfigError } from "../util/errors.js";
import { type AssignmentStrategy, STRATEGY_NAMES, type StrategyName } from "./assignment.js";
import { BoundedLoadHashStrategy, ConsistentHashStrategy } from "./strategy-hash.js";
import { LeastConnectionsStrategy, RandomStrategy, RoundRobinStrategy } from "./strategy-simple.js";

export { BoundedLoadHashStrategy, ConsistentHashStrategy, DEFAULT_LOAD_EPSILON, DEFAULT_VIRTUAL_NODES, HashRing } from "./strategy-hash.js";
export { LeastConnectionsStrategy, RandomStrategy, RoundRobinStrategy } from "./strategy-simple.js";

export interface StrategyOptions {
  /** consistent-hash, bounded-hash: ring points per node (default 160). */
  virtualNodes?: number;
  /** bounded-hash: allowed excess over the average load (default 0.25). */
  epsilon?: number;
  /** random: source of numbers in [0, 1). */
  random?: () => number;
}

export function createStrategy(name: StrategyName, options: StrategyOptions = {}): AssignmentStrategy {
  switch (name) {
    case "consistent-hash":
      return new ConsistentHashStrategy({ virtualNodes: options.virtualNodes });
    case "bounded-hash":
      return new BoundedLoadHashStrategy({ virtualNodes: options.virtualNodes, epsilon: options.epsilon });
    case "round-robin":
      return new RoundRobinStrategy();
    case "random":
      return new RandomStrategy({ random: options.random });
    case "least-connections":
      return new LeastConnectionsStrategy();
    default:
      throw new ConfigError(`unknown assignment strategy ${JSON.stringify(name)}; one of ${STRATEGY_NAMES.join(", ")}`);
  }
}
