import type { Logger } from "../util/logger.js";
import { encodeClusterMessage } from "./cluster-protocol.js";
import type { CanaryMessage } from "./cluster-protocol.js";
import type { MessageBus } from "./message-bus.js";

export interface BusCanaryOptions {
  bus: MessageBus;
  nodeId: string;
  logger: Logger;
  /** How often a canary is sent. */
  intervalMs?: number;
  /** After this many intervals without one coming back, the subscription is reported dead. */
  missedLimit?: number;
}

/**
 * A node sends itself a canary through the bus every interval. A subscription that silently died
 * (a broker restart the client did not recover from) shows up as canaries that never come back:
 * logged as an error and reported by /health, instead of messages quietly going nowhere.
 */
export class BusCanary {
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  private lastBack = Date.now();
  private reportedDead = false;
  private readonly intervalMs: number;
  private readonly missedLimit: number;

  constructor(private readonly o: BusCanaryOptions) {
    this.intervalMs = o.intervalMs ?? 5_000;
    this.missedLimit = o.missedLimit ?? 3;
  }

  start(): void {
    this.lastBack = Date.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A canary came back through the bus. */
  onCanary(msg: CanaryMessage): void {
    if (msg.fromNode !== this.o.nodeId) return;
    this.lastBack = Date.now();
    if (this.reportedDead) {
      this.reportedDead = false;
      this.o.logger.info({ node: this.o.nodeId }, "bus subscription is delivering again");
    }
  }

  /** Whether canaries are coming back in time. */
  get healthy(): boolean {
    return Date.now() - this.lastBack <= this.intervalMs * this.missedLimit;
  }

  /** Milliseconds since the last canary came back. */
  get silenceMs(): number {
    return Date.now() - this.lastBack;
  }

  private tick(): void {
    if (!this.healthy && !this.reportedDead) {
      this.reportedDead = true;
      this.o.logger.error(
        { node: this.o.nodeId, silenceMs: this.silenceMs },
        "bus canaries are not coming back: this node may not receive messages",
      );
    }
    this.o.bus.publish(
      this.o.nodeId,
      encodeClusterMessage({ type: "canary", fromNode: this.o.nodeId, id: ++this.sent, sentAt: Date.now() }),
    );
  }
}
