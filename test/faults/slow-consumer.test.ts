/**
 * Fault test: slow consumers. Raw TCP clients that never read (ci 3, full 50) are members of a group
 * that gets large messages; a good member reads normally, and alice keeps chatting 1:1 with bob.
 * The server (a `switchboard serve` process, --max-write-buffer-bytes 64 KiB) must cut each slow
 * consumer off at its cap, deliver every message to the good member, keep alice and bob's chat
 * flowing with a low latency, keep its RSS bounded, and keep everything stored: the slow
 * consumers, once reading again, sync every message they missed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { sleep, until } from "../helpers/wait.js";
import { CountingClient } from "../helpers/wk/counting-client.js";
import { type ServeProcess, alive, startServeProcess } from "./helpers/procs.js";
import { mib, percentile, report, scaled } from "./helpers/report.js";

const SLOW = scaled(3, 50);
const CAP = 64 * 1024;
const PAYLOAD_BYTES = 32 * 1024;
const MAX_PUSHES = scaled(1_500, 4_000);

describe(`fault: ${SLOW} consumers that never read`, { timeout: scaled(90_000, 600_000) }, () => {
  let server: ServeProcess;
  const clients: CountingClient[] = [];
  const client = (uid: string, neverRead = false) => {
    const c = new CountingClient({ uid, token: `tok-${uid}`, addr: () => server.nodes[0].tcpAddr, neverRead });
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await startServeProcess(["--api-key", "off", "--max-write-buffer-bytes", String(CAP)]);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.stop();
  });

  test("each is cut off at its write-buffer cap; the others are unaffected; RSS bounded; nothing lost", async (t) => {
    const slowUids = Array.from({ length: SLOW }, (_, i) => `slow-${i}`);
    const uids = [...slowUids, "good", "alice", "bob"];
    for (const uid of uids) assert.equal((await server.post("/user/token", { uid, token: `tok-${uid}` })).status, 200, `token ${uid}`);
    const group = await server.post("/channel", { channel_id: "firehose", channel_type: 2, subscribers: [...slowUids, "good"] });
    assert.equal(group.status, 200, "group created");
    const slow = slowUids.map((uid) => client(uid, true));
    const [good, alice, bob] = ["good", "alice", "bob"].map((uid) => client(uid));
    await Promise.all(clients.map((c) => c.start()));
    const rssBaseline = server.rss();

    // alice chats with bob the whole time; latency = SENDACK sent -> bob's RECV.
    let chatting = true;
    const chat: { id: string; sentAt: number }[] = [];
    const chatFailures: string[] = [];
    const chatter = (async () => {
      for (let k = 0; chatting && k < 10_000; k++) {
        const sentAt = Date.now();
        const ack = await alice.send("bob", 1, `chat ${k}`).catch((err: Error) => ({ reasonCode: -1, messageId: err.message }));
        if (ack.reasonCode === 1) chat.push({ id: ack.messageId, sentAt });
        else chatFailures.push(`chat ${k}: ${ack.reasonCode} ${ack.messageId}`);
        await sleep(20);
      }
    })();

    const payload = Buffer.alloc(PAYLOAD_BYTES, "x").toString("base64");
    const online = async () => {
      const res = await server.post("/user/onlinestatus", slowUids);
      return (res.body as { uid: string }[]).length;
    };
    let pushed = 0;
    let peakRss = rssBaseline;
    const pushStart = Date.now();
    for (; pushed < MAX_PUSHES; pushed++) {
      const res = await server.post("/message/send", { channel_id: "firehose", channel_type: 2, payload });
      assert.equal(res.status, 200, `push ${pushed} stored: ${JSON.stringify(res.body)}`);
      if (pushed % 20 === 0) {
        peakRss = Math.max(peakRss, server.rss());
        if ((await online()) === 0) break;
      }
    }
    const pushMs = Date.now() - pushStart;
    pushed++;
    await until("every slow consumer offline", async () => (await online()) === 0, 10_000, 100);
    // A few more chat messages after the cut-off, then stop.
    await sleep(500);
    chatting = false;
    await chatter;
    await good.waitFor(`all ${pushed} group messages at the good member`, () => good.shown.size >= pushed, 20_000);
    await bob.waitFor("every chat message at bob", () => chat.every((m) => bob.shown.has(m.id)), 10_000);
    const latencies = chat.map((m) => bob.shown.get(m.id)!.at - m.sentAt);

    // The slow consumers come back reading and sync: everything was stored for them.
    const back = slowUids.map((uid) => client(uid));
    await Promise.all(back.map((c) => c.start()));
    for (const c of back) await c.sync(server, "firehose", 2);
    const lostForSlow = back.reduce((n, c) => n + (pushed - c.shown.size), 0);
    const maxSeq = await server.get("/channel/max_message_seq?channel_id=firehose&channel_type=2");

    report(t, `slow consumers (${SLOW} never reading, cap ${CAP / 1024} KiB)`, {
      slow_consumers: SLOW,
      pushed_messages: pushed,
      payload_kib: PAYLOAD_BYTES / 1024,
      push_ms: pushMs,
      // The server's view: presence gone for all (a client that never reads never sees the close).
      slow_cut_off_by_server: `${SLOW}/${SLOW}`,
      received_by_slow_before_cut: slow.reduce((n, c) => n + c.stats.recvFrames, 0),
      good_member_received: good.shown.size,
      chat_sent: chat.length + chatFailures.length,
      chat_acked: chat.length,
      chat_received: chat.filter((m) => bob.shown.has(m.id)).length,
      chat_p50_ms: percentile(latencies, 50),
      chat_p99_ms: percentile(latencies, 99),
      stored: maxSeq.body.message_seq,
      synced_by_slow_after: back.reduce((n, c) => n + c.stats.syncedNew, 0),
      lost: lostForSlow,
      rss_baseline_mib: mib(rssBaseline),
      rss_peak_mib: mib(peakRss),
    });
    assert.ok(pushed < MAX_PUSHES, `the slow consumers were cut off before ${MAX_PUSHES} messages (${pushed})`);
    assert.equal(maxSeq.body.message_seq, pushed, "every pushed message stored");
    assert.equal(good.shown.size, pushed, "the good member got every group message");
    assert.deepEqual(chatFailures, [], "every chat message was acknowledged");
    assert.ok(chat.length > 10, `alice kept chatting (${chat.length} messages)`);
    assert.ok(percentile(latencies, 99) < 1_000, `chat p99 latency stays under 1 s (${percentile(latencies, 99)} ms)`);
    assert.equal(lostForSlow, 0, "after the cut-off each slow consumer synced every message: nothing lost");
    // The peak includes transient garbage: every push encrypts its payload once per member (per-session
    // keys), ~50 × 101 × 43 KiB ≈ 220 MB at full size, freed by the next GCs. Consumers never cut off
    // would hold as much again in their write buffers on top of that, and cross this line.
    assert.ok(peakRss - rssBaseline < 384 * 2 ** 20, `server RSS bounded (+${mib(peakRss - rssBaseline)} MiB)`);
    assert.ok(alive(server.child), "the server is still running");
  });
});
