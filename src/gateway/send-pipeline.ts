import type { SwitchboardMetrics } from "../metrics/metrics.js";
import type { AppendInput, AppendResult, MessageStore } from "../store/message-store.js";
import { checkAppendInput } from "../store/store-common.js";
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
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

export interface SendPipelineOptions {
  store: MessageStore;
  logger?: Logger;
  maxBatch?: number;
  /** See MIN_BATCH_INTERVAL_MS; 0 writes every tick. */
  minBatchIntervalMs?: number;
  metrics?: SwitchboardMetrics;
}

/**
 * Group commit: every append requested while the previous batch is being written goes into the
 * next one, so a busy node pays one transaction per batch instead of one per message. One batch
 * is in flight at a time, which keeps each sender's messages in the order they were sent.
 */
export class SendPipeline {
  private readonly store: MessageStore;
  private readonly logger: Logger;
  private readonly maxBatch: number;
  private readonly metrics: SwitchboardMetrics | undefined;
  private queue: Pending[] = [];
  private writing = false;
  private scheduled = false;
  private lastWriteAt = 0;
  private readonly minInterval: number;

  constructor(options: SendPipelineOptions) {
    this.store = options.store;
    this.logger = options.logger ?? silentLogger;
    this.maxBatch = options.maxBatch ?? MAX_APPEND_BATCH;
    this.metrics = options.metrics;
    this.minInterval = options.minBatchIntervalMs ?? MIN_BATCH_INTERVAL_MS;
  }

  append(input: AppendInput): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      // Checked alone: an input the store refuses would otherwise fail everyone's batch with it.
      checkAppendInput(input);
      this.queue.push({ input, resolve, reject });
      this.schedule();
    });
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
      for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
    } catch (err) {
      this.logger.error({ err, batch: batch.length }, "storing a batch of messages failed");
      for (const p of batch) p.reject(err);
    } finally {
      this.writing = false;
      if (this.queue.length > 0) this.schedule();
    }
  }
}
