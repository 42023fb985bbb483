/**
 * Which gateway nodes are alive, with their addresses and load. Backends: node-registry-memory.ts,
 * node-registry-redis.ts. Contract: test/contract/node-registry.contract.ts.
 */

export interface NodeAddresses {
  /** "host:port" */
  tcpAddr: string;
  /** "ws://host:port" */
  wsAddr: string;
  /** "wss://host:port" */
  wssAddr: string;
}

export interface NodeInfo {
  /** Unique, stable id of a gateway node, e.g. "node-1". */
  id: string;
  external: NodeAddresses;
  intranet: NodeAddresses;
  /** Router API base URL of the process hosting the node, e.g. "http://10.0.0.1:5001". */
  apiUrl: string;
  /** Current connection count (the load). */
  connections: number;
  /** Unix ms when the node started; a restarted node has a newer one. */
  startedAt: number;
  /** Unix ms of the last heartbeat seen. */
  lastSeen: number;
}

/**
 * "update" is a change of a live node's identity (addresses, apiUrl, startedAt: a restart), not
 * of its load: connections and lastSeen change with every heartbeat and are read with list() or
 * loads(), never pushed, so the registry's traffic stays linear in the number of nodes.
 */
export type NodeEvent = { type: "join"; node: NodeInfo } | { type: "leave"; nodeId: string } | { type: "update"; node: NodeInfo };

/** The load figures of a node, as of its last heartbeat. */
export interface NodeLoad {
  connections: number;
  lastSeen: number;
}

export interface NodeRegistry {
  /**
   * Announce a node (or refresh it: same call). It stays listed for ttlMs after the last call; a
   * node that stops calling disappears within ttlMs plus one sweep interval.
   */
  announce(node: NodeInfo, ttlMs: number): Promise<void>;
  /** Remove a node now (clean shutdown). */
  withdraw(nodeId: string): Promise<void>;
  /** Live nodes, sorted by id, with their current load. */
  list(): Promise<NodeInfo[]>;
  /**
   * Optional, cheaper than list(): the load of every node, by id (it may still name a node that
   * just expired; callers keep only the nodes they know as live).
   */
  loads?(): Promise<Map<string, NodeLoad>>;
  /**
   * Joins, leaves (including TTL expiry, noticed by some instance within a sweep interval) and
   * identity updates; returns an unsubscribe function. Events are eventual: a backend whose
   * transport may lose them repairs its watchers' view by a periodic re-read.
   */
  watch(listener: (event: NodeEvent) => void): () => void;
  close(): Promise<void>;
}
