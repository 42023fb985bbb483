/**
 * Offline messages survive a restart: 1,000 messages to an offline user through the HTTP API, the
 * server stopped and a new one started on the same data (SQLite folder, or PostgreSQL schema), then
 * everything synced back by seq with WuKongIM's /channel/messagesync (paged) and /conversation/sync.
 * Retried sends (same client_msg_no) are stored once, before and after the restart.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import pg from "pg";
import type { ServeOptions } from "../../src/config/options.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";

// biome-ignore lint/suspicious/noExplicitAny: HTTP answers are checked field by field
type Json = any;

const PERSON = 1;
const COUNT = 1000;
const PAGE = 100;
const SENDER = "restart-sender";
const RECEIVER = "restart-receiver";

const textOf = (i: number) => `message ${i} — 消息 ${i} 📨`;
const payloadOf = (i: number) => Buffer.from(JSON.stringify({ type: 1, content: textOf(i) })).toString("base64");
const clientMsgNoOf = (i: number) => `restart-${i}`;

async function send(
  sb: TestServer,
  i: number,
  from = SENDER,
  clientMsgNo = clientMsgNoOf(i),
): Promise<{ message_id: number; message_seq: number; client_msg_no: string }> {
  const res = await sb.post("/message/send", {
    header: { red_dot: 1 },
    client_msg_no: clientMsgNo,
    from_uid: from,
    channel_id: RECEIVER,
    channel_type: PERSON,
    payload: payloadOf(i),
  });
  assert.equal(res.status, 200, `send ${i}: ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.status, 200, `send ${i}: WuKongIM envelope`);
  return res.body.data;
}

/** Every message of the receiver's channel with the sender, paged upward from seq 1 by `limit`. */
async function syncAllUp(sb: TestServer, limit: number): Promise<{ messages: Json[]; pages: number }> {
  const messages: Json[] = [];
  let pages = 0;
  for (let start = 1; ; pages++) {
    const res = await sb.post("/channel/messagesync", {
      login_uid: RECEIVER,
      channel_id: SENDER,
      channel_type: PERSON,
      start_message_seq: start,
      end_message_seq: 0,
      limit,
      pull_mode: 1,
    });
    assert.equal(res.status, 200, `messagesync from ${start}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.start_message_seq, start, "echoes start_message_seq");
    assert.ok(res.body.messages.length <= limit, `page from ${start} holds at most ${limit}`);
    messages.push(...res.body.messages);
    if (res.body.more !== 1) {
      pages++;
      break;
    }
    assert.equal(res.body.messages.length, limit, "a page with more after it is full");
    start = res.body.messages.at(-1).message_seq + 1;
  }
  return { messages, pages };
}

/** The same, walking down from the newest (pull_mode 0), as a client scrolling back. */
async function syncAllDown(sb: TestServer, limit: number): Promise<Json[]> {
  const pages: Json[][] = [];
  let start = 0;
  for (;;) {
    const res = await sb.post("/channel/messagesync", {
      login_uid: RECEIVER,
      channel_id: SENDER,
      channel_type: PERSON,
      start_message_seq: start,
      end_message_seq: 0,
      limit,
      pull_mode: 0,
    });
    assert.equal(res.status, 200, `messagesync down from ${start}: ${JSON.stringify(res.body)}`);
    const page: Json[] = res.body.messages;
    if (page.length === 0) break;
    pages.unshift(page);
    if (page[0].message_seq === 1) break;
    start = page[0].message_seq - 1;
  }
  return pages.flat();
}

function assertAllInOrder(messages: Json[], ids: number[]): void {
  assert.equal(messages.length, COUNT, `${COUNT} messages`);
  const seqs = messages.map((m) => m.message_seq);
  const gap = seqs.findIndex((s, i) => s !== i + 1);
  assert.equal(gap, -1, `seqs are 1..${COUNT} with no gap (first break at index ${gap}: ${seqs[gap]})`);
  for (const [i, m] of messages.entries()) {
    const n = i + 1;
    if (m.client_msg_no !== clientMsgNoOf(n) || m.message_id !== ids[i] || m.from_uid !== SENDER || m.channel_id !== SENDER) {
      assert.fail(`message ${n} is not the one sent: ${JSON.stringify(m)}`);
    }
    const content = JSON.parse(Buffer.from(m.payload, "base64").toString("utf8"));
    if (content.content !== textOf(n)) assert.fail(`message ${n} payload: ${JSON.stringify(content)}`);
  }
}

function offlineRestartScenario(storeOptions: () => Partial<ServeOptions>): void {
  const dataDir = mkdtempSync(join(tmpdir(), "switchboard-restart-"));
  const options = () => ({ ...storeOptions(), dataDir });
  let sb: TestServer | undefined;
  after(async () => {
    await sb?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test(`${COUNT} messages to an offline user survive a restart and sync back in order, once each`, async () => {
    const fixed = options();
    sb = await startTestServer(fixed);
    const ids: number[] = [];
    for (let i = 1; i <= COUNT; i++) {
      const r = await send(sb, i);
      assert.equal(r.message_seq, i, `send ${i} gets seq ${i}`);
      ids.push(r.message_id);
    }
    assert.equal(new Set(ids).size, COUNT, "every message got its own id");

    // A retry of an already stored message (same from_uid and client_msg_no) is answered with the stored one.
    const retried = await send(sb, 500);
    assert.deepEqual([retried.message_id, retried.message_seq], [ids[499], 500], "the retry gets message 500's id and seq");

    // The same retry arriving many times at once (a client retrying while the first is in flight) is stored once.
    const racing = await Promise.all(Array.from({ length: 10 }, () => send(sb!, COUNT + 1, "restart-racer", "racer-same")));
    assert.equal(new Set(racing.map((r) => `${r.message_id}/${r.message_seq}`)).size, 1, "every concurrent retry gets one answer");
    assert.equal(racing[0].message_seq, 1, "stored once: seq 1 of the racer's channel");

    // Many senders' messages at once into one channel: seqs are dense and unique.
    const burst = await Promise.all(Array.from({ length: 200 }, (_, i) => send(sb!, i + 1, "restart-racer", `racer-${i}`)));
    assert.deepEqual(
      burst.map((r) => r.message_seq).sort((a, b) => a - b),
      Array.from({ length: 200 }, (_, i) => i + 2),
      "200 concurrent sends take seqs 2..201, no gap, no repeat",
    );
    assert.equal(new Set(burst.map((r) => r.message_id)).size, 200, "200 distinct ids");

    await sb.stop();
    sb = undefined;
    sb = await startTestServer(fixed);

    const retriedAfter = await send(sb, 1000);
    assert.deepEqual(
      [retriedAfter.message_id, retriedAfter.message_seq],
      [ids[999], 1000],
      "a retry after the restart is still recognised",
    );
    const max = await sb.get(`/channel/max_message_seq?channel_id=${SENDER}&channel_type=${PERSON}&login_uid=${RECEIVER}`);
    assert.deepEqual(max.body, { message_seq: COUNT }, "the retries were not stored again");

    const up = await syncAllUp(sb, PAGE);
    assert.equal(up.pages, COUNT / PAGE, `${COUNT / PAGE} pages of ${PAGE}`);
    assertAllInOrder(up.messages, ids);
    assertAllInOrder(await syncAllDown(sb, 300), ids);
    for (const m of up.messages.slice(0, 3)) {
      assert.deepEqual(m.header, { no_persist: 0, red_dot: 1, sync_once: 0 }, "header as sent");
      assert.equal(m.message_idstr, String(m.message_id), "message_idstr");
    }

    const convs = await sb.post("/conversation/sync", { uid: RECEIVER, version: 0, last_msg_seqs: "", msg_count: 3 });
    assert.equal(convs.status, 200, `conversation/sync: ${JSON.stringify(convs.body)}`);
    assert.deepEqual(convs.body.map((c: Json) => c.channel_id).sort(), ["restart-racer", SENDER], "two conversations");
    const conv = convs.body.find((c: Json) => c.channel_id === SENDER);
    const racerConv = convs.body.find((c: Json) => c.channel_id === "restart-racer");
    assert.equal(racerConv.unread, 201, "201 unread from the racer");
    assert.equal(conv.channel_type, PERSON, "a person channel");
    assert.equal(conv.unread, COUNT, `unread ${COUNT}`);
    assert.equal(conv.last_msg_seq, COUNT, "last_msg_seq");
    assert.equal(conv.last_client_msg_no, clientMsgNoOf(COUNT), "last_client_msg_no");
    assert.deepEqual(
      conv.recents.map((m: Json) => m.message_seq),
      [998, 999, 1000],
      "msg_count recents",
    );
    // The client already holds everything: nothing to sync for that conversation.
    const upToDate = await sb.post("/conversation/sync", {
      uid: RECEIVER,
      version: 0,
      last_msg_seqs: `${SENDER}:${PERSON}:${COUNT}`,
      msg_count: 3,
    });
    assert.deepEqual(
      upToDate.body.map((c: Json) => c.channel_id),
      ["restart-racer"],
      "a client at last_msg_seq gets nothing for that conversation",
    );

    // The sender's side of the same conversation has nothing unread.
    const senderSide = await sb.post("/conversation/sync", { uid: SENDER, version: 0, last_msg_seqs: "", msg_count: 1 });
    assert.equal(senderSide.body.length, 1, "the sender has the conversation too");
    assert.equal(senderSide.body[0].channel_id, RECEIVER, "seen from the sender");
    assert.equal(senderSide.body[0].unread, 0, "own messages are not unread");

    const racer = await sb.post("/channel/messagesync", {
      login_uid: RECEIVER,
      channel_id: "restart-racer",
      channel_type: PERSON,
      start_message_seq: 1,
      end_message_seq: 0,
      limit: 1000,
      pull_mode: 1,
    });
    assert.deepEqual(
      racer.body.messages.map((m: Json) => m.message_seq),
      Array.from({ length: 201 }, (_, i) => i + 1),
      "the racer's channel after the restart: 1..201",
    );
    const bySeq = new Map(burst.map((r) => [r.message_seq, r.client_msg_no]));
    for (const m of racer.body.messages.slice(1)) {
      if (m.client_msg_no !== bySeq.get(m.message_seq)) assert.fail(`seq ${m.message_seq} holds ${m.client_msg_no}, answered for another`);
    }

    // New messages after the restart continue the channel: next seq, a fresh id.
    const next = await send(sb, COUNT + 1);
    assert.equal(next.message_seq, COUNT + 1, "the seq continues after the restart");
    assert.ok(!ids.includes(next.message_id), `message id ${next.message_id} is not reused after the restart`);
    const before = Math.max(...ids, ...burst.map((r) => r.message_id), racing[0].message_id);
    assert.ok(next.message_id > before, `message id ${next.message_id} is above every id before the restart (${before})`);

    // Reading moves the unread count.
    const cleared = await sb.post("/conversations/clearUnread", {
      uid: RECEIVER,
      channel_id: SENDER,
      channel_type: PERSON,
      message_seq: 600,
    });
    assert.equal(cleared.status, 200, `clearUnread: ${JSON.stringify(cleared.body)}`);
    const later = await sb.post("/conversation/sync", { uid: RECEIVER, version: 0, last_msg_seqs: "", msg_count: 1 });
    const laterConv = later.body.find((c: Json) => c.channel_id === SENDER);
    assert.equal(laterConv.unread, COUNT + 1 - 600, "unread counts what is after the read position");
  });
}

describe("offline messages across a restart on SQLite", () => {
  offlineRestartScenario(() => ({}));
});

const skipPostgres = await skipUnless("postgres");

describe("offline messages across a restart on PostgreSQL", { skip: skipPostgres }, () => {
  const schema = uniqueName("t").toLowerCase();
  offlineRestartScenario(() => ({ postgresUrl: serviceUrls.postgres, clusterName: schema }));
  // Registered after the scenario's hook, so it runs once its server has stopped.
  after(async () => {
    const admin = new pg.Pool({ connectionString: serviceUrls.postgres, max: 1 });
    try {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await admin.end();
    }
  });
});
