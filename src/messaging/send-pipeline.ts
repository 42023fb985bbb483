import type { SwitchboardMetrics } from "../metrics/metrics.js";
import type { AppendInput, AppendResult, MessageLog } from "../store/message-store.js";
import { checkAppendInput } from "../store/store-common.js";
import { StoreUnavailableError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";

/** Most messages stored in one transaction. */
export const MAX_APPEND_BATCH = 512;
/**
 * A batch follows the previous one by at least this long. A transaction costs about the same for 1
 * message as for 20 (the hot index pages are written once per commit), so under load waiting a
 * millisecond for company is cheaper than committing alone; after a quiet spell the first message
 * is written at once.
 */
export const MIN_BATCH_INTERVAL_MS = 1;

interface Pending {
  input: AppendInput;
  /** Date.now() past which the sender is answered store_unavailable, written or not. */
  deadline: number;
  settled: boolean;
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

export interface SendPipelineOptions {
  store: MessageLog;
  logger?: Logger;
  maxBatch?: number;
  /** See MIN_BATCH_INTERVAL_MS; 0 writes every tick. */
  minBatchIntervalMs?: number;
  /**
   * Longest a send waits, in the queue and in its batch together, before it fails with
   * store_unavailable (the store's own calls are bounded too; see store-guard.ts). Default 2000.
   */
  timeoutMs?: number;
  metrics?: SwitchboardMetrics;
}

/**
 * Group commit: every append requested while the previous batch is being written goes into the
 * next one, so a busy node pays one transaction per batch instead of one per message. One batch
 * is in flight at a time, which keeps each sender's messages in the order they were sent.
 */
export class SendPipeline {
  private readonly store: MessageLog;
  private readonly logger: Logger;
  private readonly maxBatch: number;
  private readonly metrics: SwitchboardMetrics | undefined;
  private queue: Pending[] = [];
  private writing = false;
  private scheduled = false;
  // Never written: the first batch goes at once, whatever the interval.
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private readonly minInterval: number;
  private readonly timeoutMs: number;
  /** Pending sends whose deadline has not been checked off, oldest first (queue and in flight). */
  private waiting: Pending[] = [];
  private sweeper: NodeJS.Timeout | undefined;

  constructor(options: SendPipelineOptions) {
    this.store = options.store;
    this.logger = options.logger ?? silentLogger;
    this.maxBatch = options.maxBatch ?? MAX_APPEND_BATCH;
    this.metrics = options.metrics;
    this.minInterval = options.minBatchIntervalMs ?? MIN_BATCH_INTERVAL_MS;
    this.timeoutMs = options.timeoutMs ?? 2_000;
  }

  append(input: AppendInput): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      // Checked alone: an input the store refuses would otherwise fail everyone's batch with it.
      checkAppendInput(input);
      const p: Pending = { input, deadline: Date.now() + this.timeoutMs, settled: false, resolve, reject };
      this.queue.push(p);
      this.waiting.push(p);
      this.sweeper ??= setInterval(() => this.expire(), Math.max(10, Math.min(100, this.timeoutMs / 10))).unref();
      this.schedule();
    });
  }

  /**
   * Answers every send past its deadline. One sweep for all of them, not a timer per send; sends
   * expire in arrival order, so only the front of the list is ever looked at.
   */
  private expire(): void {
    const now = Date.now();
    let n = 0;
    while (n < this.waiting.length && (this.waiting[n].settled || this.waiting[n].deadline <= now)) n++;
    if (n > 0) {
      const expired = this.waiting.splice(0, n).filter((p) => !p.settled);
      if (expired.length > 0) {
        const err = new StoreUnavailableError(`the message store did not store the send within ${this.timeoutMs} ms`);
        for (const p of expired) this.settle(p, undefined, err);
        // Not yet handed to the store: they never will be.
        this.queue = this.queue.filter((p) => !p.settled);
        this.logger.warn({ sends: expired.length, timeout_ms: this.timeoutMs }, "sends timed out waiting for the message store");
      }
    }
    if (this.waiting.length === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private settle(p: Pending, result: AppendResult | undefined, err?: unknown): void {
    if (p.settled) return;
    p.settled = true;
    if (result) p.resolve(result);
    else p.reject(err);
  }

  /** Pending plus in-flight appends (for metrics and drain). */
  get depth(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      void this.writeBatch();
    };
    const wait = this.lastWriteAt + this.minInterval - performance.now();
    // setImmediate lets every frame already read from the sockets join this batch.
    if (wait <= 0) setImmediate(run);
    else setTimeout(run, wait);
  }

  private async writeBatch(): Promise<void> {
    if (this.writing || this.queue.length === 0) return;
    this.writing = true;
    this.lastWriteAt = performance.now();
    const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
    this.queue = this.queue.length <= this.maxBatch ? [] : this.queue.slice(this.maxBatch);
    const stopTimer = this.metrics?.storeLatency.startTimer();
    this.metrics?.storeBatchSize.observe(batch.length);
    try {
      const results = await this.store.append(batch.map((p) => p.input));
      stopTimer?.();
      // A send that timed out meanwhile is stored all the same; its retry finds it (same client_msg_no).
      for (let i = 0; i < batch.length; i++) this.settle(batch[i], results[i]);
    } catch (err) {
      if (err instanceof StoreUnavailableError) this.logger.debug({ reason: err.message, batch: batch.length }, "batch not stored");
      else this.logger.error({ err, batch: batch.length }, "storing a batch of messages failed");
      for (const p of batch) this.settle(p, undefined, err);
    } finally {
      this.writing = false;
      if (this.queue.length > 0) this.schedule();
    }
  }
}
