import { InvalidArgumentError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import { LocalSubscribers, busClosed, checkFrame, checkNodeId } from "./bus-common.js";
import { FrameBatcher, type OutgoingMessage } from "./frame-batch.js";
import { type MemoryBusReceiver, type MemoryBusState, MemoryClusterHub } from "./memory-hub.js";
import type { BusHandler, MessageBus } from "./message-bus.js";

export interface MemoryMessageBusOptions {
  /** Shared with the other "nodes" of an in-process cluster; a fresh one when omitted. */
  hub?: MemoryClusterHub;
  /** Batches above this are split (frames above it fragmented), as on the network backends. */
  maxMessageBytes?: number;
  logger?: Logger;
}

/** Batch targets: a node id cannot collide with the broadcast target. */
const NODE = "node:";
const ALL = "all";

/**
 * MessageBus in process memory. It batches and frames exactly like the network backends (so the
 * memory-backed tests exercise that code), and delivers at the end of the publishing tick.
 */
export class MemoryMessageBus implements MessageBus {
  private readonly state: MemoryBusState;
  private readonly batcher: FrameBatcher;
  private readonly subscribers: LocalSubscribers;
  private readonly own = new Map<string, MemoryBusReceiver>();
  private closed = false;

  constructor(options: MemoryMessageBusOptions = {}) {
    this.state = (options.hub ?? new MemoryClusterHub()).bus;
    this.subscribers = new LocalSubscribers(options.logger ?? silentLogger);
    this.batcher = new FrameBatcher({ send: (messages) => this.send(messages), maxMessageBytes: options.maxMessageBytes });
  }

  async subscribe(nodeId: string, handler: BusHandler): Promise<void> {
    if (this.closed) throw busClosed();
    checkNodeId(nodeId);
    if (this.state.receivers.has(nodeId)) throw new InvalidArgumentError(`node ${nodeId} is already subscribed`);
    this.subscribers.add(nodeId, handler);
    const receiver: MemoryBusReceiver = (message, broadcast) =>
      this.subscribers.receive(broadcast ? `${ALL}:${nodeId}` : `${NODE}${nodeId}`, nodeId, message);
    this.own.set(nodeId, receiver);
    this.state.receivers.set(nodeId, receiver);
  }

  publish(nodeId: string, frame: Uint8Array): void {
    if (this.closed) throw busClosed();
    this.batcher.add(NODE + checkNodeId(nodeId), checkFrame(frame));
  }

  broadcast(frame: Uint8Array): void {
    if (this.closed) throw busClosed();
    this.batcher.add(ALL, checkFrame(frame));
  }

  async flush(): Promise<void> {
    this.batcher.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // What was published before close still goes out; nothing arrives here afterwards.
    this.batcher.flush();
    this.closed = true;
    this.subscribers.stop();
    for (const [nodeId, receiver] of this.own) {
      if (this.state.receivers.get(nodeId) === receiver) this.state.receivers.delete(nodeId);
    }
    this.own.clear();
  }

  private send(messages: OutgoingMessage[]): void {
    for (const { target, message } of messages) {
      if (target === ALL) {
        for (const receiver of [...this.state.receivers.values()]) receiver(message, true);
      } else {
        this.state.receivers.get(target.slice(NODE.length))?.(message, false);
      }
    }
  }
}
