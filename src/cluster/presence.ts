/**
 * Where each user is connected: uid -> bindings on nodes, one per device session. Backends:
 * presence-memory.ts, presence-redis.ts. Contract: test/contract/presence.contract.ts.
 */

export interface PresenceBinding {
  uid: string;
  nodeId: string;
  deviceFlag: number;
  /** Connection id on that node. */
  connId: string;
  /** From nextEpoch(uid): a newer login has a larger epoch and always wins. */
  epoch: number;
}

export interface BindResult {
  /** False when a binding with a newer epoch exists for (uid, deviceFlag): the caller must drop the session. */
  accepted: boolean;
  /** The binding this one replaced for the same (uid, deviceFlag), if any: its session must be kicked. */
  displaced?: PresenceBinding;
}

export interface Presence {
  /** Cluster-wide strictly increasing number per uid (fencing token for logins). */
  nextEpoch(uid: string): Promise<number>;
  /** Bind a session; one binding per (uid, deviceFlag), the highest epoch wins. Expires after ttlMs unless refreshed. */
  bind(binding: PresenceBinding, ttlMs: number): Promise<BindResult>;
  /** Remove a binding, only if it is still the one with this epoch (a stale unbind never removes a newer login). */
  unbind(uid: string, deviceFlag: number, epoch: number): Promise<void>;
  /**
   * Keep a node's live sessions bound for another ttlMs. A binding that is missing (lost with a
   * Redis restart, or removed when the node was wrongly declared dead) is written back, unless a
   * newer login holds the device; the epoch counter is lifted past it.
   */
  refresh(nodeId: string, bindings: PresenceBinding[], ttlMs: number): Promise<void>;
  /** All live bindings of these uids; uids with none are absent from the map. */
  lookup(uids: string[]): Promise<Map<string, PresenceBinding[]>>;
  /** Drop every binding of a node (it died or shut down). */
  removeNode(nodeId: string): Promise<void>;
  /** Number of users with at least one live binding, and a page of them (for /onlineUser). */
  onlineUids(limit: number): Promise<string[]>;
  close(): Promise<void>;
}
