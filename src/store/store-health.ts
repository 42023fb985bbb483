/**
 * Whether the message store can serve right now, learned from every call the node makes (see
 * store-guard.ts) and from a probe (`ping()`) that runs while no call has succeeded lately, so the
 * answer is current with or without traffic: /health, the store-available metric and the logs
 * read it. A store that comes back is noticed by the next probe, within one interval.
 */
import { type Logger, silentLogger } from "../util/logger.js";

export interface StoreStatus {
  /** "postgres" or "sqlite". */
  backend: string;
  available: boolean;
  /** Unix ms since when `available` has held. */
  since: number;
  /** Why the store is unavailable (the last failure), while it is. */
  error?: string;
}

export interface StoreHealthOptions {
  backend: string;
  /** One cheap call that proves the store serves (the guarded store's ping). */
  probe: () => Promise<unknown>;
  /** How often the probe runs when nothing else has succeeded within the interval. Default 1000. */
  intervalMs?: number;
  logger?: Logger;
}

export class StoreHealth {
  readonly #backend: string;
  readonly #probe: () => Promise<unknown>;
  readonly #intervalMs: number;
  readonly #log: Logger;
  #available = true;
  #since = Date.now();
  #error: string | undefined;
  #lastSuccess = 0;
  #probing = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: StoreHealthOptions) {
    this.#backend = options.backend;
    this.#probe = options.probe;
    this.#intervalMs = options.intervalMs ?? 1_000;
    this.#log = options.logger ?? silentLogger;
  }

  status(): StoreStatus {
    const status: StoreStatus = { backend: this.#backend, available: this.#available, since: this.#since };
    if (this.#error !== undefined) status.error = this.#error;
    return status;
  }

  get available(): boolean {
    return this.#available;
  }

  /** A call reached the store and was served. */
  succeeded(): void {
    this.#lastSuccess = Date.now();
    if (this.#available) return;
    const downMs = this.#lastSuccess - this.#since;
    this.#available = true;
    this.#since = this.#lastSuccess;
    this.#error = undefined;
    this.#log.warn({ store: this.#backend, down_ms: downMs }, "message store available again");
  }

  /** A call failed because the store cannot serve (not because the request was wrong). */
  failed(err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    this.#error = reason;
    if (!this.#available) return;
    this.#available = false;
    this.#since = Date.now();
    this.#log.error({ store: this.#backend, reason }, "message store unavailable: sends and reads answer store_unavailable");
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#tick(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #tick(): Promise<void> {
    if (this.#probing || (this.#available && Date.now() - this.#lastSuccess < this.#intervalMs)) return;
    this.#probing = true;
    try {
      // The probe goes through the guard, which reports its outcome here.
      await this.#probe();
    } catch {
      // Already counted by the guard; an error of another kind is not about availability.
    } finally {
      this.#probing = false;
    }
  }
}
