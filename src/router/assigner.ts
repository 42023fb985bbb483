import type { AssignmentStrategy } from "../cluster/assignment.js";
import type { NodeDirectory } from "../cluster/node-directory.js";
import type { NodeInfo } from "../cluster/node-registry.js";
import type { Presence } from "../cluster/presence.js";
import { UnavailableError } from "../util/errors.js";

export interface UserAssignerOptions {
  directory: NodeDirectory;
  presence: Presence;
  strategy: AssignmentStrategy;
}

/** Users grouped by the node they should connect to, groups in order of first appearance. */
export interface Assignment {
  node: NodeInfo;
  uids: string[];
}

/**
 * Decides which node each user connects to: the node already holding the user when there is one
 * (so every device of a user lands together), otherwise the configured strategy's choice.
 */
export class UserAssigner {
  constructor(private readonly options: UserAssignerOptions) {}

  async assign(uids: readonly string[]): Promise<Assignment[]> {
    const live = this.options.directory.nodes();
    if (live.length === 0) throw new UnavailableError("no gateway node is up");
    const bound = uids.length > 0 ? await this.options.presence.lookup([...uids]) : new Map();
    // Strategies that weigh load see the users this batch already placed, so a big batch spreads.
    const loads = live.map((n) => ({ ...n }));
    const byId = new Map(loads.map((n) => [n.id, n]));
    const groups = new Map<string, Assignment>();
    for (const uid of uids) {
      const current = bound.get(uid)?.find((b: { nodeId: string }) => byId.has(b.nodeId));
      const node = current ? byId.get(current.nodeId) : this.options.strategy.assign(uid, loads);
      if (!node) throw new UnavailableError("no gateway node is up");
      if (!current) node.connections += 1;
      let group = groups.get(node.id);
      if (!group) {
        group = { node: live.find((n) => n.id === node.id) ?? node, uids: [] };
        groups.set(node.id, group);
      }
      group.uids.push(uid);
    }
    return [...groups.values()];
  }
}
