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

export type NodeEvent = { type: "join"; node: NodeInfo } | { type: "leave"; nodeId: string } | { type: "update"; node: NodeInfo };

export interface NodeRegistry {
  /**
   * Announce a node (or refresh it: same call). It stays listed for ttlMs after the last call; a
   * node that stops calling disappears within ttlMs plus one sweep interval.
   */
  announce(node: NodeInfo, ttlMs: number): Promise<void>;
  /** Remove a node now (clean shutdown). */
  withdraw(nodeId: string): Promise<void>;
  /** Live nodes, sorted by id. */
  list(): Promise<NodeInfo[]>;
  /** Joins, leaves (including TTL expiry) and updates; returns an unsubscribe function. */
  watch(listener: (event: NodeEvent) => void): () => void;
  close(): Promise<void>;
}
