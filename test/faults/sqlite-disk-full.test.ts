/**
 * The disk under an embedded node's SQLite fills up under traffic. The data folder is a small
 * tmpfs of its own; HTTP senders and a user of the real wukongimjssdk send through one process;
 * a filler file takes every free byte, the store starts failing, and the filler is removed again.
 *
 * Pass: the process stays up; while the disk is full sends answer 503 store_unavailable / SENDACK
 * SystemError within the store timeout, /health is 503 and says the disk is full; once space is
 * back sends succeed within seconds with no restart; after a sync nothing acknowledged is lost,
 * nothing stored twice, and seqs run 1..n.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sleep } from "../helpers/wait.js";
import { SdkLoader } from "../helpers/wk-sdk.js";
import { type ServeProcess, alive, startServeProcess } from "./helpers/procs.js";
import { report, scaled } from "./helpers/report.js";
import {
  type Ledger,
  assertLedgerHeld,
  checkLedger,
  ledgerFigures,
  newLedger,
  runHttpSenders,
  runSdkSender,
} from "./helpers/store-senders.js";

const ROUNDS = scaled(1, 5);
const FULL_MS = scaled(2_000, 4_000);
const STORE_TIMEOUT_MS = 2_000;
const ERROR_BOUND_MS = STORE_TIMEOUT_MS + 1_500;
// Room for the WAL (up to ~40 MB before a checkpoint) and the database, so the filler is what fills it.
const TMPFS_SIZE = "128m";

/** Why this scenario cannot run here (it mounts a tmpfs: root only), or false. */
function cannotMount(): false | string {
  if (process.platform !== "linux") return "tmpfs mounts are Linux only";
  if (process.getuid?.() !== 0) {
    const reason = "mounting a small tmpfs needs root";
    if (process.env.CI === "true") throw new Error(`${reason} (required in CI)`);
    return reason;
  }
  return false;
}

/** Writes a file until the filesystem says ENOSPC; returns the bytes it took. */
function fill(path: string): number {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(256 * 1024, 1);
  let written = 0;
  try {
    for (let size = chunk.length; size >= 512; ) {
      try {
        written += writeSync(fd, chunk, 0, size);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
        size >>= 1;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe("fault: the disk under SQLite fills up under traffic", { timeout: scaled(120_000, 600_000) }, async () => {
  const skip = cannotMount();
  const loader = new SdkLoader();
  let dir = "";
  let mounted = false;
  let sb: ServeProcess | undefined;

  before(async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), "switchboard-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${TMPFS_SIZE}`, "tmpfs", dir]);
    mounted = true;
    sb = await startServeProcess(["--store-timeout-ms", String(STORE_TIMEOUT_MS), "--api-key", "off"], { dataDir: dir });
  });
  after(async () => {
    await sb?.stop();
    if (mounted) execFileSync("umount", [dir]);
    if (dir) rmSync(dir, { recursive: true, force: true });
    await loader.dispose();
  });

  test("no crash, fast 503s, /health says the disk is full, back by itself when space returns", { skip }, async (t) => {
    const api = sb!;
    const token = await api.post("/user/token", { uid: "full_sdk", token: "full-token", device_flag: 1 });
    assert.equal(token.status, 200, JSON.stringify(token.body));
    const ledger: Ledger = newLedger();
    let stopped = false;
    const senders = runHttpSenders(
      { api: () => api, count: 4, prefix: "full", gapMs: 10, retryMs: 250, maxAttempts: 400, payloadBytes: 2_048, stopped: () => stopped },
      ledger,
    );
    const sdk = await runSdkSender(
      {
        loader,
        uid: "full_sdk",
        token: "full-token",
        to: "full_peer",
        addr: () => api.nodes[0].wsAddr,
        gapMs: 20,
        retryMs: 250,
        maxAttempts: 400,
        ackTimeoutMs: STORE_TIMEOUT_MS + 3_000,
        stopped: () => stopped,
      },
      ledger,
    );

    const rounds: { filled: number; failedMs: number; health503: boolean; healthError: string; backMs: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await sleep(1_000);
      const filler = join(dir, "filler");
      const filled = fill(filler);
      const fullAt = Date.now();
      const errorsBefore = ledger.errorMs.length;
      // The WAL may still have room for a little: sends fail once it needs to grow.
      let failedMs = -1;
      let health503 = false;
      let healthError = "";
      while (Date.now() - fullAt < 20_000 && (failedMs < 0 || Date.now() - fullAt < FULL_MS)) {
        if (failedMs < 0 && ledger.errorMs.length > errorsBefore) failedMs = Date.now() - fullAt;
        const h = await api.get("/health");
        if (h.status === 503 && h.body.store?.available === false) {
          health503 = true;
          healthError = h.body.store.error;
        }
        await sleep(200);
      }
      rmSync(filler);
      const freedAt = Date.now();
      const ackedAtFree = ledger.acked.length;
      let backMs = -1;
      while (Date.now() - freedAt < 20_000 && backMs < 0) {
        const h = await api.get("/health");
        if (h.status === 200 && ledger.acked.length > ackedAtFree) backMs = Date.now() - freedAt;
        else await sleep(100);
      }
      rounds.push({ filled, failedMs, health503, healthError, backMs });
      t.diagnostic(
        `round ${round + 1}: filled ${filled} B, sends failing after ${failedMs} ms, health 503 ${health503}, back ${backMs} ms`,
      );
      assert.ok(alive(sb!.child), `the process is alive after round ${round + 1}:\n${sb!.output().slice(-3_000)}`);
    }
    stopped = true;
    await senders;
    await sdk.close();

    const check = await checkLedger(api, ledger);
    report(t, "SQLite disk full under traffic (1 process)", {
      rounds: ROUNDS,
      process_died: !alive(sb!.child),
      ...ledgerFigures(ledger, check),
      health_503_rounds: rounds.filter((r) => r.health503).length,
      back_ms_max: Math.max(...rounds.map((r) => r.backMs)),
    });
    assert.ok(alive(sb!.child), "the process stayed up");
    assertLedgerHeld(ledger, check, ERROR_BOUND_MS);
    for (const [i, r] of rounds.entries()) {
      assert.ok(r.failedMs >= 0, `round ${i + 1}: the full disk was felt by the senders`);
      assert.ok(r.health503, `round ${i + 1}: /health was 503 while the disk was full`);
      assert.match(r.healthError, /full/, `round ${i + 1}: /health says the disk is full`);
      assert.ok(r.backMs >= 0 && r.backMs <= 10_000, `round ${i + 1}: sends and /health back within 10 s (${r.backMs} ms)`);
    }
  });
});
