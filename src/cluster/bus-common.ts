/** The receiving half every MessageBus backend shares: split messages, hand frames to local nodes. */
import { InvalidArgumentError, UnavailableError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { FrameSplitter } from "./frame-batch.js";
import type { BusHandler } from "./message-bus.js";

export function checkNodeId(nodeId: unknown): string {
  if (typeof nodeId !== "string" || nodeId.length === 0) throw new InvalidArgumentError("nodeId must be a non-empty string");
  return nodeId;
}

export function checkFrame(frame: unknown): Uint8Array {
  if (!(frame instanceof Uint8Array)) throw new InvalidArgumentError("a bus frame must be a Uint8Array");
  return frame;
}

export function busClosed(): UnavailableError {
  return new UnavailableError("message bus is closed");
}

/** Nodes subscribed through one bus instance, and the splitting of what arrives for them. */
export class LocalSubscribers {
  private readonly handlers = new Map<string, BusHandler>();
  /** One splitter per channel: fragment streams of different channels never mix. */
  private readonly splitters = new Map<string, FrameSplitter>();
  private stopped = false;

  constructor(private readonly logger: Logger) {}

  add(nodeId: string, handler: BusHandler): void {
    if (this.stopped) throw busClosed();
    if (typeof handler !== "function") throw new InvalidArgumentError("handler must be a function");
    if (this.handlers.has(nodeId)) throw new InvalidArgumentError(`node ${nodeId} is already subscribed`);
    this.handlers.set(nodeId, handler);
  }

  remove(nodeId: string): void {
    this.handlers.delete(nodeId);
  }

  get size(): number {
    return this.handlers.size;
  }

  /**
   * A message arrived on `channel`, addressed to `nodeId` or, when undefined, to every local node.
   * Bad messages and throwing handlers are logged; they never reach the transport's event loop.
   */
  receive(channel: string, nodeId: string | undefined, message: Uint8Array): void {
    if (this.stopped) return;
    let splitter = this.splitters.get(channel);
    if (!splitter) {
      splitter = new FrameSplitter();
      this.splitters.set(channel, splitter);
    }
    let frames: Uint8Array[];
    try {
      frames = splitter.push(message);
    } catch (err) {
      this.logger.warn({ err, channel }, "dropped an unreadable bus message");
      return;
    }
    if (frames.length === 0) return;
    if (nodeId !== undefined) {
      const handler = this.handlers.get(nodeId);
      if (handler) this.deliver(nodeId, handler, frames);
      return;
    }
    for (const [id, handler] of [...this.handlers]) this.deliver(id, handler, frames);
  }

  /** No deliveries from now on (close()). */
  stop(): void {
    this.stopped = true;
    this.handlers.clear();
    this.splitters.clear();
  }

  private deliver(nodeId: string, handler: BusHandler, frames: Uint8Array[]): void {
    for (const frame of frames) {
      if (this.stopped) return;
      try {
        handler(frame);
      } catch (err) {
        this.logger.error({ err, nodeId }, "bus handler threw");
      }
    }
  }
}
