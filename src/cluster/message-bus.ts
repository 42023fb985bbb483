/**
 * Moves opaque byte frames between gateway nodes. Backends only move bytes (message-bus-memory.ts,
 * message-bus-redis.ts, message-bus-nats.ts); what the frames mean is cluster-protocol.ts.
 * Contract: test/contract/message-bus.contract.ts.
 */

export type BusHandler = (frame: Uint8Array) => void;

export interface MessageBus {
  /** Receive frames addressed to this node and frames broadcast to all. Call once per node. */
  subscribe(nodeId: string, handler: BusHandler): Promise<void>;
  /**
   * Send to one node. Frames to the same node keep their order. Publishing may be batched
   * (pipelined) for throughput; flush() waits until everything published so far has left.
   */
  publish(nodeId: string, frame: Uint8Array): void;
  /** Send to every subscribed node, including the sender's own. */
  broadcast(frame: Uint8Array): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}
