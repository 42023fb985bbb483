import type { SwitchboardMetrics } from "../metrics/metrics.js";
import type { AppendInput, AppendResult, MessageStore } from "../store/message-store.js";
import { checkAppendInput } from "../store/store-common.js";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";

/** Most messages stored in one transaction. */
export const MAX_APPEND_BATCH = 512;

interface Pending {
  input: AppendInput;
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

export interface SendPipelineOptions {
  store: MessageStore;
  logger?: Logger;
  maxBatch?: number;
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

  constructor(options: SendPipelineOptions) {
    this.store = options.store;
    this.logger = options.logger ?? silentLogger;
    this.maxBatch = options.maxBatch ?? MAX_APPEND_BATCH;
    this.metrics = options.metrics;
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
    // setImmediate lets every frame already read from the sockets join this batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.writeBatch();
    });
  }

  private async writeBatch(): Promise<void> {
    if (this.writing || this.queue.length === 0) return;
    this.writing = true;
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
