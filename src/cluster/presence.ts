/**
 * Where each user is connected: uid -> bindings on nodes, one per device session. Backends:
 * presence-memory.ts, presence-redis.ts. Contract: test/contract/presence.contract.ts.
 *
 * Bindings are leases on their node, not on time: a binding is live while the node incarnation
 * that wrote it is alive (the node registry says so, see directoryLiveness in presence-common.ts),
 * so an idle user costs the store nothing; a node that dies takes its bindings with it at once.
 */

export interface PresenceBinding {
  uid: string;
  nodeId: string;
  deviceFlag: number;
  /** Connection id on that node. */
  connId: string;
  /** From nextEpoch(uid): a newer login has a larger epoch and always wins. */
  epoch: number;
  /**
   * Which run of the node wrote it (its NodeInfo.startedAt): a binding left by an earlier run of
   * a node id is dead even while the id is alive again. Absent or 0: any run of that id.
   */
  incarnation?: number;
}

export interface BindResult {
  /** False when a live binding with a newer epoch exists for (uid, deviceFlag): the caller must drop the session. */
  accepted: boolean;
  /** The live binding this one replaced for the same (uid, deviceFlag), if any: its session must be kicked. */
  displaced?: PresenceBinding;
}

/** Whether bindings written by this run of this node are live (the node registry knows). */
export type NodeLiveness = (nodeId: string, incarnation: number) => boolean;

export interface Presence {
  /** Cluster-wide strictly increasing number per uid (fencing token for logins). */
  nextEpoch(uid: string): Promise<number>;
  /**
   * Bind a session; one binding per (uid, deviceFlag), the highest epoch wins; a binding of a dead
   * node counts as absent. It lasts until unbind, removeNode, or its node is no longer alive.
   * ttlMs is checked but unused: bindings no longer expire by time (kept for the callers).
   */
  bind(binding: PresenceBinding, ttlMs: number): Promise<BindResult>;
  /** Remove a binding, only if it is still the one with this epoch (a stale unbind never removes a newer login). */
  unbind(uid: string, deviceFlag: number, epoch: number): Promise<void>;
  /**
   * A node's periodic check that the store still holds its sessions. A binding that is missing
   * (lost with a Redis restart, or removed when the node was wrongly declared dead) is written
   * back, unless a newer login holds the device; the epoch counter is lifted past it. Bindings
   * naming another node are ignored. The Redis backend notices loss by the node's user set alone,
   * so a steady-state call costs O(1), not O(bindings). ttlMs is checked but unused.
   */
  refresh(nodeId: string, bindings: PresenceBinding[], ttlMs: number): Promise<void>;
  /** All live bindings of these uids; uids with none are absent from the map. */
  lookup(uids: string[]): Promise<Map<string, PresenceBinding[]>>;
  /** Drop every binding of a node (it died or shut down). */
  removeNode(nodeId: string): Promise<void>;
  /** A page of the users with at least one live binding (for /onlineUser and CIM broadcasts). */
  onlineUids(limit: number): Promise<string[]>;
  /**
   * From now on a binding is live only while isNodeAlive(nodeId, incarnation) says so. Until
   * called (and without the constructor option) every node counts as alive. The composition root
   * calls it once its NodeDirectory runs.
   */
  setNodeLiveness(isNodeAlive: NodeLiveness): void;
  close(): Promise<void>;
}
