/**
 * SQLite WAL checkpoints on a worker thread. A checkpoint copies every page written since the last
 * one from the WAL into the database file and fsyncs it; run by the commit that crosses
 * `wal_autocheckpoint`, it stalls the event loop, and every message in flight with it (p2p bench at
 * 5,000 msgs/s: p99 32 ms with it, 7 ms without). A PASSIVE checkpoint on another connection never
 * blocks the writer, so the worker does the copying a little at a time; the writer's own
 * autocheckpoint stays as the bound on the WAL's size and then finds almost nothing left to copy.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Logger } from "../util/logger.js";

export interface SqliteCheckpointerOptions {
  /** The database file (the writer's, opened again by the worker). */
  path: string;
  /** How often the worker checkpoints. */
  intervalMs?: number;
  logger: Logger;
}

// Plain CommonJS run with `eval`, so it loads the same way from src (tsx) and from dist.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma("busy_timeout = 1000");
const timer = setInterval(() => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
}, workerData.intervalMs);
parentPort.on("message", () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export class SqliteCheckpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  #stopped = false;

  constructor(options: SqliteCheckpointerOptions) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, path: options.path, intervalMs: options.intervalMs ?? 1_000 },
    });
    // A checkpoint that fails (disk full, busy) is retried on the next tick; the writer's own
    // autocheckpoint still bounds the WAL if the worker is gone.
    this.#worker.on("message", (m: { error?: string }) => {
      if (m.error) options.logger.warn({ reason: m.error }, "background WAL checkpoint failed");
    });
    this.#worker.on("error", (err) => options.logger.warn({ err }, "WAL checkpoint worker died; checkpoints fall back to commits"));
    this.#exited = new Promise((resolve) => this.#worker.once("exit", () => resolve()));
    this.#worker.unref();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    // Held (ref) while it finishes: an unref'd worker alone would let the process exit mid-stop.
    this.#worker.ref();
    this.#worker.postMessage("stop");
    const timer = setTimeout(() => void this.#worker.terminate(), 2_000);
    await this.#exited;
    clearTimeout(timer);
  }
}
