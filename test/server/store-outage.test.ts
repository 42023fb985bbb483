/**
 * What a client and a load balancer see while the node's store cannot write (a real SQLite file
 * made unwritable under the running server with chattr +i): a SEND gets a SystemError SENDACK and
 * the connection stays up, the HTTP API answers 503 store_unavailable, /health is 503 and says
 * which store and since when, the store-available metric is 0; once the file is writable again
 * everything is back within seconds, with no restart and no seq gap.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ReasonCode } from "../../src/protocol/constants.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { until } from "../helpers/wait.js";
import { Client } from "../helpers/wk/client.js";

const STORE_TIMEOUT_MS = 1_000;
const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("a node whose store cannot write", () => {
  let sb: TestServer;
  let files: string[];
  let alice: Client;
  const immutable = (on: boolean) => execFileSync("chattr", [on ? "+i" : "-i", ...files]);

  before(async () => {
    sb = await startTestServer({ nodes: 1, tokenAuth: false, storeTimeoutMs: STORE_TIMEOUT_MS });
    const db = join(sb.dataDir, "switchboard.db");
    // The -shm file is left alone: it is memory-mapped, and the database and WAL are where writes go.
    files = [db, `${db}-wal`];
    alice = await Client.connect(sb.nodes[0].info().external.tcpAddr, { uid: "so_alice" });
    const ack = await alice.send("so_bob", 1, "before", { clientMsgNo: "so-1" });
    assert.equal(ack.reasonCode, ReasonCode.Success);
  });
  after(async () => {
    try {
      immutable(false);
    } catch {}
    alice?.close();
    await sb?.stop();
  });

  test("sends fail fast with a reason, /health is 503 naming the store, and all comes back by itself", async () => {
    immutable(true);
    let released = false;
    try {
      const t0 = Date.now();
      const ack = await alice.send("so_bob", 1, "during", { clientMsgNo: "so-2" });
      const ackMs = Date.now() - t0;
      assert.equal(ack.reasonCode, ReasonCode.SystemError, "no false ack while the store cannot write");
      assert.ok(ackMs <= STORE_TIMEOUT_MS + 500, `the SENDACK came within the store timeout (${ackMs} ms)`);

      const http = await sb.post("/message/send", { from_uid: "so_carol", channel_id: "so_bob", channel_type: 1, payload: b64("x") });
      assert.equal(http.status, 503, JSON.stringify(http.body));
      assert.equal(http.body.error, "store_unavailable");
      assert.match(http.body.message, /SQLite/);
      const read = await sb.post("/channel/messagesync", { login_uid: "so_alice", channel_id: "so_bob", channel_type: 1 });
      assert.ok(read.status === 200 || read.status === 503, `a read answers or says unavailable: ${read.status}`);

      const health = await sb.get("/health");
      assert.equal(health.status, 503, JSON.stringify(health.body));
      assert.equal(health.body.store.backend, "sqlite");
      assert.equal(health.body.store.available, false);
      assert.ok(Date.parse(health.body.store.since) >= t0 - 1_000, "since when");
      assert.match(health.body.store.error, /SQLite/);
      assert.ok(health.body.checks.some((c: { name: string; ok: boolean }) => c.name === "store" && !c.ok));
      const metrics = await fetch(`${sb.apiUrl}/metrics`).then((r) => r.text());
      assert.match(metrics, /^switchboard_store_available 0$/m);

      assert.equal(alice.closed, false, "the connection stays up");
      immutable(false);
      released = true;
      const backMs = await until("/health 200", async () => (await sb.get("/health")).status === 200, 5_000, 50);
      assert.ok(backMs <= 5_000);
      const again = await alice.send("so_bob", 1, "after", { clientMsgNo: "so-2" });
      assert.equal(again.reasonCode, ReasonCode.Success);
      assert.equal(again.messageSeq, 2, "the retried send is stored with the next seq, no gap");
      const metricsAfter = await fetch(`${sb.apiUrl}/metrics`).then((r) => r.text());
      assert.match(metricsAfter, /^switchboard_store_available 1$/m);
      const healthAfter = await sb.get("/health");
      assert.equal(healthAfter.body.store.available, true);
    } finally {
      if (!released) immutable(false);
    }
  });
});
