/**
 * The message store's PostgreSQL goes away under traffic. Two cluster processes share Redis and a
 * private PostgreSQL; HTTP senders post /message/send through both and a user of the real
 * wukongimjssdk sends over a gateway. Round after round, PostgreSQL is stopped with
 * `pg_ctl stop -m immediate` (backends die mid-transaction, nothing is shut down cleanly), stays
 * down for a while and starts again.
 *
 * Pass: no process dies; every error answer during an outage comes within the store timeout (no
 * hang); /health is 503 on both nodes during each outage and 200 after; sends succeed again within
 * seconds of the restart; after a sync nothing acknowledged is lost, nothing is stored twice, and
 * every conversation's seqs run 1..n.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { NodeProcess } from "../helpers/cluster-process.js";
import { type PrivatePostgres, privatePostgresUnavailable, startPrivatePostgres } from "../helpers/private-postgres.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";
import { sleep } from "../helpers/wait.js";
import { SdkLoader } from "../helpers/wk-sdk.js";
import { alive, startClusterNode } from "./helpers/procs.js";
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

const ROUNDS = scaled(2, 20);
const OUTAGE_MS = scaled(2_500, 5_000);
const UP_MS = scaled(1_500, 2_500);
const STORE_TIMEOUT_MS = 2_000;
/** An error answer may take the store timeout plus scheduling on a loaded 2-core machine. */
const ERROR_BOUND_MS = STORE_TIMEOUT_MS + 1_500;

describe("fault: PostgreSQL stopped with -m immediate under 2 processes", { timeout: scaled(180_000, 1_200_000) }, async () => {
  const skip = (await skipUnless("redis")) || privatePostgresUnavailable();
  const clusterName = uniqueName("fpg").toLowerCase();
  const loader = new SdkLoader();
  let pg: PrivatePostgres | undefined;
  let nodes: NodeProcess[] = [];

  before(async () => {
    if (skip) return;
    pg = await startPrivatePostgres();
    nodes = await Promise.all(
      [1, 2].map((i) =>
        startClusterNode({
          nodeId: `pgo${i}`,
          clusterName,
          redis: serviceUrls.redis,
          postgres: pg!.url,
          extraArgs: ["--store-timeout-ms", String(STORE_TIMEOUT_MS)],
        }),
      ),
    );
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await pg?.destroy();
    await loader.dispose();
  });

  test("no process dies, errors are fast, /health tells the truth, nothing acknowledged is lost", { skip }, async (t) => {
    const [n1, n2] = nodes;
    const token = await n1.post("/user/token", { uid: "pgo_sdk", token: "pgo-token", device_flag: 1 });
    assert.equal(token.status, 200, JSON.stringify(token.body));

    const ledger: Ledger = newLedger();
    let stopped = false;
    const senders = runHttpSenders(
      {
        api: (i) => nodes[i % 2],
        count: scaled(8, 16),
        prefix: "pgo",
        gapMs: scaled(40, 40),
        retryMs: 250,
        maxAttempts: 400,
        stopped: () => stopped,
      },
      ledger,
    );
    const sdk = await runSdkSender(
      {
        loader,
        uid: "pgo_sdk",
        token: "pgo-token",
        to: "pgo_sdk_peer",
        addr: () => n2.wsAddr,
        gapMs: 20,
        retryMs: 250,
        maxAttempts: 400,
        ackTimeoutMs: STORE_TIMEOUT_MS + 3_000,
        stopped: () => stopped,
      },
      ledger,
    );

    const rounds: { health503: boolean[]; healthBackMs: number; sendBackMs: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await sleep(UP_MS);
      const ackedBefore = ledger.acked.length;
      await pg!.stop("immediate");
      const downAt = Date.now();
      // /health on both nodes must turn 503 while it is down (probe every second).
      const health503 = [false, false];
      while (Date.now() - downAt < OUTAGE_MS) {
        const answers = await Promise.all(nodes.map((n) => n.get("/health").catch(() => ({ status: 0, body: null }))));
        answers.forEach((a, i) => {
          if (a.status === 503 && a.body?.store?.available === false) health503[i] = true;
        });
        await sleep(250);
      }
      await pg!.start();
      const upAt = Date.now();
      let healthBackMs = -1;
      let sendBackMs = -1;
      const ackedAtRestart = ledger.acked.length;
      while (Date.now() - upAt < 30_000 && (healthBackMs < 0 || sendBackMs < 0)) {
        if (healthBackMs < 0) {
          const answers = await Promise.all(nodes.map((n) => n.get("/health").catch(() => ({ status: 0 }))));
          if (answers.every((a) => a.status === 200)) healthBackMs = Date.now() - upAt;
        }
        if (sendBackMs < 0 && ledger.acked.length > ackedAtRestart) sendBackMs = Date.now() - upAt;
        await sleep(100);
      }
      rounds.push({ health503, healthBackMs, sendBackMs });
      t.diagnostic(
        `round ${round + 1}: acked before ${ackedBefore}, health 503 ${health503.join("/")}, health back ${healthBackMs} ms, sends back ${sendBackMs} ms`,
      );
      for (const n of nodes) assert.ok(alive(n.child), `${n.nodeId} is alive after round ${round + 1}:\n${n.output().slice(-3_000)}`);
    }
    stopped = true;
    await senders;
    await sdk.close();

    const check = await checkLedger(n1, ledger);
    const died = nodes.filter((n) => !alive(n.child)).map((n) => n.nodeId);
    report(t, "PostgreSQL stopped -m immediate under 2 processes", {
      rounds: ROUNDS,
      outage_ms: OUTAGE_MS,
      processes_died: died.length,
      ...ledgerFigures(ledger, check),
      health_503_rounds: rounds.filter((r) => r.health503.every(Boolean)).length,
      health_back_ms_max: Math.max(...rounds.map((r) => r.healthBackMs)),
      sends_back_ms_max: Math.max(...rounds.map((r) => r.sendBackMs)),
    });
    assert.deepEqual(died, [], "no Switchboard process died");
    assertLedgerHeld(ledger, check, ERROR_BOUND_MS);
    assert.equal(ledger.errors.get("network") ?? 0, 0, "no HTTP connection failed: the API stayed up");
    for (const [i, r] of rounds.entries()) {
      assert.deepEqual(r.health503, [true, true], `round ${i + 1}: /health was 503 on both nodes during the outage`);
      assert.ok(r.healthBackMs >= 0 && r.healthBackMs <= 10_000, `round ${i + 1}: /health 200 again within 10 s (${r.healthBackMs} ms)`);
      assert.ok(r.sendBackMs >= 0 && r.sendBackMs <= 10_000, `round ${i + 1}: sends acknowledged again within 10 s (${r.sendBackMs} ms)`);
    }
  });
});
