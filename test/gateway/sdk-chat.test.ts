/**
 * The real wukongimjssdk (npm 1.0.4, protocol v2) against the real embedded server: users on two
 * gateway nodes chat over WS and WSS with the SDK's encryption, 1:1 both ways and in a group; every
 * RECV is acknowledged so the server stops resending; a user who was offline catches up through
 * the SDK's own sync path (provider.syncConversationsCallback / syncMessagesCallback wired to our
 * HTTP API, as an app wires them).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import type { Session } from "../../src/gateway/session.js";
import { type SdkUser, connectSdkUser } from "../helpers/sdk-user.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { sleep, until } from "../helpers/wait.js";
import { SdkLoader, type SdkMessage } from "../helpers/wk-sdk.js";

// biome-ignore lint/suspicious/noExplicitAny: HTTP answers and SDK objects are checked field by field
type Json = any;

const PERSON = 1;
const GROUP = 2;

const loader = new SdkLoader();
const quietLog = console.log;
let sb: TestServer;

before(async () => {
  console.log = () => {}; // the SDK logs every packet
  sb = await startTestServer({ nodes: 2 });
});
after(async () => {
  await sb?.stop();
  // The SDK logs its sockets' close events a moment after disconnect().
  await sleep(100);
  console.log = quietLog;
  await loader.dispose();
});

async function token(uid: string): Promise<string> {
  const res = await sb.post("/user/token", { uid, token: `t-${uid}`, device_flag: 1 });
  assert.equal(res.status, 200, `token for ${uid}: ${JSON.stringify(res.body)}`);
  return `t-${uid}`;
}

/** A connected SDK user on node `node` over ws (or wss). */
async function user(uid: string, node: number, scheme: "ws" | "wss" = "ws"): Promise<SdkUser> {
  const t = await token(uid);
  const external = sb.nodes[node].info().external;
  const addr = scheme === "ws" ? external.wsAddr : external.wssAddr;
  assert.ok(addr.startsWith(`${scheme}://`), `node ${node} offers ${scheme}: ${addr}`);
  const u = await connectSdkUser(loader, { uid, token: t, addr: () => addr });
  await u.waitConnected();
  return u;
}

/** The server-side sessions a user holds on a node (the real Session objects, with their RECV trackers). */
function sessionsOf(node: number, uid: string): Session[] {
  return sb.nodes[node].sessions.of(uid) as Session[];
}

/**
 * The SDK acknowledged every RECV on `node`: the server's tracker for `uid` is empty, and a resend
 * sweep far in the future (past every backoff) writes nothing, so no duplicate reaches the user.
 */
async function assertAllAcked(u: SdkUser, node: number): Promise<void> {
  const sessions = sessionsOf(node, u.uid);
  assert.equal(sessions.length, 1, `${u.uid} has one session on node ${node}`);
  await until(`${u.uid}'s RECVACKs`, () => sessions[0].recvs.size === 0);
  const before = u.received.length;
  sessions[0].resendDue(Date.now() + 3_600_000);
  // Give a stray resend the time to cross the loopback socket and the SDK's decoder.
  await sleep(100);
  assert.equal(u.received.length, before, `no RECV is resent to ${u.uid} once acknowledged`);
}

function assertText(m: SdkMessage, want: { text: string; from: string; channelId: string; channelType: number }): void {
  assert.equal(m.content.text, want.text, "decrypted text, non-ASCII intact");
  assert.equal(m.fromUID, want.from, "fromUID");
  assert.equal(m.channel.channelID, want.channelId, "channel id as the receiver sees it");
  assert.equal(m.channel.channelType, want.channelType, "channel type");
}

describe("wukongimjssdk over WebSocket (encrypted), users on two nodes", () => {
  const users: SdkUser[] = [];
  after(() => {
    for (const u of users) u.close();
  });

  test("1:1 both ways: SENDACK has message_id and seq, the peer gets the decrypted text and acks it", async () => {
    const alice = await user("ws-alice", 0);
    const bob = await user("ws-bob", 1);
    users.push(alice, bob);

    const hello = "héllo 世界 👋";
    const ack = await alice.sendText(hello, bob.uid, PERSON);
    assert.equal(ack.reasonCode, 1, "SENDACK reason Success");
    assert.match(ack.messageID, /^[1-9]\d*$/, `SENDACK message_id ${ack.messageID} is a positive id`);
    assert.equal(ack.messageSeq, 1, "first message of the person channel has seq 1");

    const [got] = await bob.waitReceived(1);
    assertText(got, { text: hello, from: alice.uid, channelId: alice.uid, channelType: PERSON });
    assert.equal(String(got.messageID), ack.messageID, "bob got the message the SENDACK named");
    assert.equal(got.messageSeq, 1, "RECV carries the stored seq");
    await assertAllAcked(bob, 1);

    const reply = "ça va? 好的 ✓ 🎉";
    const back = await bob.sendText(reply, alice.uid, PERSON);
    assert.equal(back.reasonCode, 1, "bob's SENDACK reason Success");
    assert.equal(back.messageSeq, 2, "same person channel, next seq");
    assert.notEqual(back.messageID, ack.messageID, "a new message id");
    const [gotBack] = await alice.waitReceived(1);
    assertText(gotBack, { text: reply, from: bob.uid, channelId: bob.uid, channelType: PERSON });
    assert.equal(gotBack.messageSeq, 2, "alice sees seq 2");
    await assertAllAcked(alice, 0);

    // A burst: the SDK packs several SEND frames into one WS message; all arrive once, in order.
    const burst = Array.from({ length: 12 }, (_, i) => `burst ${i} — ü 🚀`);
    const acks = await Promise.all(burst.map((t) => alice.sendText(t, bob.uid, PERSON)));
    assert.deepEqual(
      acks.map((a) => a.messageSeq),
      burst.map((_, i) => 3 + i),
      "seqs follow the SDK's send order",
    );
    const all = await bob.waitReceived(1 + burst.length);
    assert.deepEqual(
      all.slice(1).map((m) => m.content.text),
      burst,
      "bob gets the burst in order",
    );
    await assertAllAcked(bob, 1);
    assert.equal(bob.received.length, 1 + burst.length, "no duplicates");
  });

  test("group chat: every other member gets the message with the group as channel, the sender does not", async () => {
    const carol = await user("ws-carol", 0);
    users.push(carol);
    const [alice, bob] = users;
    const group = "ws-group-1";
    const created = await sb.post("/channel", { channel_id: group, channel_type: GROUP, subscribers: [alice.uid, bob.uid, carol.uid] });
    assert.equal(created.status, 200, `create group: ${JSON.stringify(created.body)}`);
    assert.deepEqual(created.body, { status: 200 }, "WuKongIM's ok answer");

    const aliceBefore = alice.received.length;
    const bobBefore = bob.received.length;
    const text = "bonjour le groupe — 大家好 👋";
    const ack = await alice.sendText(text, group, GROUP);
    assert.equal(ack.reasonCode, 1, "a member may send to the group");
    assert.equal(ack.messageSeq, 1, "the group's own seq starts at 1");

    const [atCarol] = await carol.waitReceived(1);
    const atBob = (await bob.waitReceived(bobBefore + 1)).at(-1)!;
    for (const m of [atCarol, atBob]) {
      assertText(m, { text, from: alice.uid, channelId: group, channelType: GROUP });
      assert.equal(String(m.messageID), ack.messageID, "the message the SENDACK named");
      assert.equal(m.messageSeq, 1, "group seq 1");
    }
    await assertAllAcked(carol, 0);
    await assertAllAcked(bob, 1);

    const reply = await bob.sendText("reçu ✓", group, GROUP);
    assert.equal(reply.messageSeq, 2, "group seq 2");
    const atAlice = (await alice.waitReceived(aliceBefore + 1)).at(-1)!;
    assertText(atAlice, { text: "reçu ✓", from: bob.uid, channelId: group, channelType: GROUP });
    assert.equal((await carol.waitReceived(2))[1].content.text, "reçu ✓", "carol gets bob's reply too");
    await assertAllAcked(alice, 0);
    assert.equal(alice.received.length, aliceBefore + 1, "alice did not get her own group message back");

    const outsider = await user("ws-outsider", 1);
    users.push(outsider);
    const refused = await outsider.sendText("let me in", group, GROUP);
    assert.notEqual(refused.reasonCode, 1, "a non-member's send to the group is refused");
    assert.equal(refused.reasonCode, 3, "reason SubscriberNotExist");
  });

  test("a large message (about 20 KB of UTF-8) crosses intact both ways", async () => {
    const [alice, bob] = users;
    const big = `${"世界🌍é".repeat(2000)}|end`;
    assert.ok(Buffer.byteLength(big) > 20_000, "over 20 KB of UTF-8");
    const bobBefore = bob.received.length;
    const aliceBefore = alice.received.length;
    assert.equal((await alice.sendText(big, bob.uid, PERSON)).reasonCode, 1, "stored");
    const atBob = (await bob.waitReceived(bobBefore + 1)).at(-1)!;
    assert.ok(atBob.content.text === big, `bob got the whole text (${atBob.content.text?.length} of ${big.length} chars)`);
    const reversed = [...big].reverse().join("");
    assert.equal((await bob.sendText(reversed, alice.uid, PERSON)).reasonCode, 1, "stored");
    const atAlice = (await alice.waitReceived(aliceBefore + 1)).at(-1)!;
    assert.ok(atAlice.content.text === reversed, "alice got the whole text");
    await assertAllAcked(bob, 1);
    await assertAllAcked(alice, 0);
  });

  test("a SEND the SDK resends after a reconnect (SENDACK lost) is stored once and not delivered twice", async () => {
    const [alice, bob] = users;
    const wk = alice.sdk.WKSDK.shared() as Json;
    // Keep what the SDK queues, to put a message back as if its SENDACK had never arrived.
    const queue: Map<number, unknown> = wk.chatManager.sendingQueues;
    const queued = new Map<number, unknown>();
    const set = queue.set.bind(queue);
    queue.set = (k: number, v: unknown) => {
      queued.set(k, v);
      return set(k, v);
    };
    const acks: { clientSeq: number; messageID: string; messageSeq: number; reasonCode: number }[] = [];
    wk.chatManager.addMessageStatusListener((a: Json) =>
      acks.push({ clientSeq: a.clientSeq, messageID: String(a.messageID), messageSeq: a.messageSeq, reasonCode: a.reasonCode }),
    );

    const bobBefore = bob.received.length;
    const first = await alice.sendText("une seule fois ☝️", bob.uid, PERSON);
    assert.equal(first.reasonCode, 1, "stored");
    await bob.waitReceived(bobBefore + 1);
    const clientSeq = Math.max(...queued.keys());
    assert.equal(queue.has(clientSeq), false, "the SENDACK took it off the SDK's queue");

    // The SENDACK "was lost": the message is still queued when the connection drops.
    queue.set(clientSeq, queued.get(clientSeq));
    const statusesBefore = alice.statuses.length;
    const [session] = sessionsOf(0, alice.uid);
    session.conn.destroy("test: connection lost");
    await until(
      "alice to notice the drop and reconnect",
      () => alice.statuses.slice(statusesBefore).some(([s]) => s === alice.sdk.ConnectStatus.Connected),
      15_000,
    );
    // On CONNACK the SDK flushes its queue: the same client_seq and client_msg_no, encrypted for the new session.
    await until("the resent SEND's SENDACK", () => queue.size === 0, 5000);
    const again = acks.filter((a) => a.clientSeq === clientSeq);
    assert.equal(again.length, 2, "two SENDACKs for that client_seq");
    assert.deepEqual(
      [again[1].reasonCode, again[1].messageID, again[1].messageSeq],
      [1, first.messageID, first.messageSeq],
      "the retry is answered with the stored message's id and seq",
    );
    const max = await sb.get(`/channel/max_message_seq?channel_id=${alice.uid}&channel_type=${PERSON}&login_uid=${bob.uid}`);
    assert.deepEqual(max.body, { message_seq: first.messageSeq }, "not stored twice");
    await assertAllAcked(bob, 1);
    assert.equal(bob.received.length, bobBefore + 1, "bob got it once");
  });
});

describe("wukongimjssdk over WSS (self-signed certificate trusted as a CA, not by turning checks off)", () => {
  const globals = globalThis as { WebSocket?: unknown };
  let saved: unknown;
  const users: SdkUser[] = [];

  before(() => {
    saved = globals.WebSocket;
    // The SDK constructs `new WebSocket(addr)`; this one verifies the server against the node's own certificate.
    const ca = readFileSync(join(sb.dataDir, "tls", "cert.pem"));
    globals.WebSocket = class TrustingWebSocket extends WebSocket {
      constructor(addr: string) {
        super(addr, { ca });
      }
    };
  });
  after(() => {
    for (const u of users) u.close();
    globals.WebSocket = saved;
  });

  test("an untrusted certificate is refused (the check is on)", async () => {
    const addr = sb.nodes[0].info().external.wssAddr;
    const err = await new Promise<Error | undefined>((resolve) => {
      const ws = new WebSocket(addr);
      ws.once("open", () => {
        ws.close();
        resolve(undefined);
      });
      ws.once("error", resolve);
    });
    assert.ok(err, "a plain ws client without the CA does not connect");
    assert.match(
      String((err as NodeJS.ErrnoException).code ?? err.message),
      /SELF_SIGNED|CERT|certificate/i,
      "refused for the certificate",
    );
  });

  test("1:1 both ways and a group over wss, on two nodes", async () => {
    const alice = await user("wss-alice", 0, "wss");
    const bob = await user("wss-bob", 1, "wss");
    users.push(alice, bob);

    const ack = await alice.sendText("héllo 世界 👋 over TLS", bob.uid, PERSON);
    assert.equal(ack.reasonCode, 1, "SENDACK reason Success");
    assert.equal(ack.messageSeq, 1, "seq 1");
    const [got] = await bob.waitReceived(1);
    assertText(got, { text: "héllo 世界 👋 over TLS", from: alice.uid, channelId: alice.uid, channelType: PERSON });
    await assertAllAcked(bob, 1);

    const back = await bob.sendText("👍 reçu", alice.uid, PERSON);
    assert.equal(back.messageSeq, 2, "seq 2");
    const [gotBack] = await alice.waitReceived(1);
    assertText(gotBack, { text: "👍 reçu", from: bob.uid, channelId: bob.uid, channelType: PERSON });
    await assertAllAcked(alice, 0);

    const group = "wss-group-1";
    const created = await sb.post("/channel", { channel_id: group, channel_type: GROUP, subscribers: [alice.uid, bob.uid] });
    assert.equal(created.status, 200, `create group: ${JSON.stringify(created.body)}`);
    const g = await bob.sendText("groupe 组 🔒", group, GROUP);
    assert.equal(g.reasonCode, 1, "group send accepted");
    const atAlice = (await alice.waitReceived(2))[1];
    assertText(atAlice, { text: "groupe 组 🔒", from: bob.uid, channelId: group, channelType: GROUP });
    await assertAllAcked(alice, 0);
  });
});

describe("offline user catches up through the SDK's own sync callbacks", () => {
  const users: SdkUser[] = [];
  after(() => {
    for (const u of users) u.close();
  });

  /**
   * Wire the SDK's provider callbacks to our HTTP API the way WuKongIM's example app does
   * (APIClient + convert.ts): conversations from POST /conversation/sync, messages from POST
   * /channel/messagesync, converted to the SDK's own Conversation and Message objects.
   */
  function wireSync(u: SdkUser): { conversationManager: Json; chatManager: Json } {
    const wk = u.sdk.WKSDK.shared() as Json;
    const toMessage = (r: Json) => {
      const m = wk.newMessage();
      m.header.reddot = r.header.red_dot === 1;
      m.header.noPersist = r.header.no_persist === 1;
      m.header.syncOnce = r.header.sync_once === 1;
      m.messageID = r.message_idstr;
      m.messageSeq = r.message_seq;
      m.clientMsgNo = r.client_msg_no;
      m.fromUID = r.from_uid;
      m.channel = wk.newChannel(r.channel_id, r.channel_type);
      m.timestamp = r.timestamp;
      const bytes = new Uint8Array(Buffer.from(r.payload, "base64"));
      const content = wk.getMessageContent(JSON.parse(Buffer.from(bytes).toString("utf8")).type);
      content.decode(bytes);
      m.content = content;
      return m;
    };
    const provider = wk.config.provider;
    provider.syncConversationsCallback = async (filter?: { lastMsgSeqs?: string }) => {
      const res = await sb.post("/conversation/sync", { uid: u.uid, version: 0, last_msg_seqs: filter?.lastMsgSeqs ?? "", msg_count: 5 });
      assert.equal(res.status, 200, `conversation/sync: ${JSON.stringify(res.body)}`);
      assert.ok(Array.isArray(res.body), "conversation/sync answers a bare array, as WuKongIM does");
      return res.body.map((c: Json) => {
        const conversation = wk.conversationManager.createEmptyConversation(wk.newChannel(c.channel_id, c.channel_type));
        conversation.unread = c.unread;
        conversation.timestamp = c.timestamp;
        if (c.recents.length > 0) conversation.lastMessage = toMessage(c.recents.at(-1));
        conversation.lastMsgSeq = c.last_msg_seq;
        conversation.recents = c.recents.map(toMessage);
        return conversation;
      });
    };
    provider.syncMessagesCallback = async (channel: Json, opts: Json) => {
      const res = await sb.post("/channel/messagesync", {
        login_uid: u.uid,
        channel_id: channel.channelID,
        channel_type: channel.channelType,
        start_message_seq: opts.startMessageSeq,
        end_message_seq: opts.endMessageSeq,
        limit: opts.limit,
        pull_mode: opts.pullMode,
      });
      assert.equal(res.status, 200, `channel/messagesync: ${JSON.stringify(res.body)}`);
      return res.body.messages.map(toMessage);
    };
    return { conversationManager: wk.conversationManager, chatManager: wk.chatManager };
  }

  test("bob was offline for 25 messages (SDK and HTTP sends); after connecting he syncs them all, in order, no gap", async () => {
    const alice = await user("off-alice", 0);
    users.push(alice);
    await token("off-bob");
    const texts: string[] = [];
    // 20 from alice's SDK, sent as one burst (the SDK batches SEND frames), then 5 through the HTTP API as alice.
    const sdkTexts = Array.from({ length: 20 }, (_, i) => `hors ligne ${i} — 离线 📴`);
    const acks = await Promise.all(sdkTexts.map((t) => alice.sendText(t, "off-bob", PERSON)));
    assert.ok(
      acks.every((a) => a.reasonCode === 1),
      "every SDK send to the offline user is stored and acknowledged",
    );
    texts.push(...sdkTexts);
    for (let i = 0; i < 5; i++) {
      const text = `par HTTP ${i} ✉️`;
      const payload = Buffer.from(JSON.stringify({ type: 1, content: text })).toString("base64");
      const res = await sb.post("/message/send", { from_uid: alice.uid, channel_id: "off-bob", channel_type: PERSON, payload });
      assert.equal(res.status, 200, `message/send: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.status, 200, "WuKongIM envelope");
      assert.ok(res.body.data.message_id > 0, `message/send answers a message_id: ${JSON.stringify(res.body)}`);
      texts.push(text);
    }

    const bob = await user("off-bob", 1);
    users.push(bob);
    const { conversationManager, chatManager } = wireSync(bob);

    const conversations: Json[] = await conversationManager.sync({});
    assert.equal(conversations.length, 1, "one conversation");
    const [conv] = conversations;
    assert.equal(conv.channel.channelID, alice.uid, "the conversation is with alice (the peer)");
    assert.equal(conv.channel.channelType, PERSON, "a person channel");
    assert.equal(conv.unread, 25, "25 unread");
    assert.equal(conv.lastMsgSeq, 25, "last_msg_seq 25");
    assert.equal(conv.lastMessage.content.text, texts[24], "the last message, decoded by the SDK's own content classes");
    assert.deepEqual(
      conv.recents.map((m: Json) => m.messageSeq),
      [21, 22, 23, 24, 25],
      "msg_count 5 recents",
    );
    assert.equal(conversationManager.conversations, conversations, "the SDK keeps what the callback returned");

    // Page forward from seq 1 with the SDK's syncMessages, 10 at a time, as an app fills a chat window.
    const synced: Json[] = [];
    for (let start = 1; ; ) {
      const page: Json[] = await chatManager.syncMessages(conv.channel, {
        startMessageSeq: start,
        endMessageSeq: 0,
        limit: 10,
        pullMode: 1,
      });
      synced.push(...page);
      if (page.length < 10) break;
      start = page.at(-1).messageSeq + 1;
    }
    assert.deepEqual(
      synced.map((m) => m.messageSeq),
      Array.from({ length: 25 }, (_, i) => i + 1),
      "seqs 1..25, no gap, no duplicate",
    );
    assert.deepEqual(
      synced.map((m) => m.content.text),
      texts,
      "all texts in send order",
    );
    for (const m of synced) {
      assert.equal(m.fromUID, alice.uid, "from alice");
      assert.equal(m.channel.channelID, alice.uid, "bob sees the channel as alice");
      assert.equal(m.header.reddot, true, "counted as unread");
    }
    assert.deepEqual(
      synced.slice(0, 20).map((m) => m.messageID),
      acks.map((a) => a.messageID),
      "the SDK-sent ones carry the ids their SENDACKs named",
    );

    // And backward from the newest, as an app opening the chat at the bottom does (pull_mode 0).
    const latest: Json[] = await chatManager.syncMessages(conv.channel, { startMessageSeq: 0, endMessageSeq: 0, limit: 10, pullMode: 0 });
    assert.deepEqual(
      latest.map((m) => m.messageSeq),
      [16, 17, 18, 19, 20, 21, 22, 23, 24, 25],
      "the latest 10",
    );
    const older: Json[] = await chatManager.syncMessages(conv.channel, { startMessageSeq: 15, endMessageSeq: 0, limit: 10, pullMode: 0 });
    assert.deepEqual(
      older.map((m) => m.messageSeq),
      [6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
      "the 10 before",
    );

    // Read: clear unread, sync again.
    const cleared = await sb.post("/conversations/clearUnread", {
      uid: bob.uid,
      channel_id: alice.uid,
      channel_type: PERSON,
      message_seq: 25,
    });
    assert.equal(cleared.status, 200, `clearUnread: ${JSON.stringify(cleared.body)}`);
    const again: Json[] = await conversationManager.sync({});
    assert.equal(again[0].unread, 0, "no unread after clearUnread");

    // Nothing was pushed at login (stored messages come by sync); the next message arrives live, with the next seq.
    assert.equal(bob.received.length, 0, "no RECV replay of stored messages at login");
    const live = await alice.sendText("en ligne 🟢", bob.uid, PERSON);
    assert.equal(live.messageSeq, 26, "seq 26");
    const arrived = await bob.waitReceived(1);
    const last = arrived.at(-1)!;
    assertText(last, { text: "en ligne 🟢", from: alice.uid, channelId: alice.uid, channelType: PERSON });
    assert.equal(last.messageSeq, 26, "live RECV seq 26");
    await assertAllAcked(bob, 1);
  });

  test("a user who went away and came back (a new app instance) syncs what he missed, 1:1 and in a group, from where he was", async () => {
    const alice = await user("back-alice", 0);
    const carol = await user("back-carol", 1);
    let bob = await user("back-bob", 1);
    users.push(alice, carol, bob);
    const group = "back-group";
    const created = await sb.post("/channel", { channel_id: group, channel_type: GROUP, subscribers: [alice.uid, bob.uid, carol.uid] });
    assert.equal(created.status, 200, `create group: ${JSON.stringify(created.body)}`);

    // Online: one message in each channel arrives live.
    await alice.sendText("avant 1:1", bob.uid, PERSON);
    await carol.sendText("avant groupe", group, GROUP);
    const live = await bob.waitReceived(2);
    assert.deepEqual(
      live.map((m) => [m.channel.channelID, m.messageSeq]),
      [
        [alice.uid, 1],
        [group, 1],
      ],
      "bob holds seq 1 of both channels",
    );
    await assertAllAcked(bob, 1);

    // Bob closes the app; the server lets go of his session.
    bob.close();
    users.splice(users.indexOf(bob), 1);
    await until("bob's session to end", () => sessionsOf(1, bob.uid).length === 0);

    const personTexts = Array.from({ length: 7 }, (_, i) => `pendant ton absence ${i} 🌙`);
    for (const t of personTexts) assert.equal((await alice.sendText(t, bob.uid, PERSON)).reasonCode, 1, "stored while bob is away");
    const groupTexts = Array.from({ length: 6 }, (_, i) => `groupe absent ${i} 👥`);
    const groupAcks = await Promise.all(groupTexts.map((t, i) => (i % 2 === 0 ? alice : carol).sendText(t, group, GROUP)));
    assert.ok(
      groupAcks.every((a) => a.reasonCode === 1),
      "group messages stored while bob is away",
    );

    // A new app instance: it holds seq 1 of both channels and tells the server so.
    bob = await user("back-bob", 1);
    users.push(bob);
    const { conversationManager, chatManager } = wireSync(bob);
    const conversations: Json[] = await conversationManager.sync({ lastMsgSeqs: `${alice.uid}:${PERSON}:1|${group}:${GROUP}:1` });
    const byId = new Map(conversations.map((c) => [c.channel.channelID, c]));
    assert.deepEqual([...byId.keys()].sort(), [alice.uid, group].sort(), "both conversations have news");
    assert.equal(byId.get(alice.uid).lastMsgSeq, 8, "1:1 is at seq 8");
    assert.equal(byId.get(alice.uid).unread, 8, "8 unread in the 1:1 (nothing was marked read)");
    assert.equal(byId.get(group).lastMsgSeq, 7, "the group is at seq 7");
    assert.equal(byId.get(group).unread, 7, "7 unread in the group");

    for (const [conv, want] of [
      [byId.get(alice.uid), personTexts],
      [byId.get(group), groupTexts],
    ] as const) {
      const missed: Json[] = await chatManager.syncMessages(conv.channel, { startMessageSeq: 2, endMessageSeq: 0, limit: 4, pullMode: 1 });
      for (let start = 6; missed.length < want.length; start += 4) {
        const page: Json[] = await chatManager.syncMessages(conv.channel, {
          startMessageSeq: start,
          endMessageSeq: 0,
          limit: 4,
          pullMode: 1,
        });
        assert.ok(page.length > 0, `page from ${start} of ${conv.channel.channelID} is not empty`);
        missed.push(...page);
      }
      assert.deepEqual(
        missed.map((m) => m.messageSeq),
        Array.from({ length: want.length }, (_, i) => i + 2),
        `${conv.channel.channelID}: seqs 2..${want.length + 1}, no gap`,
      );
      if (conv.channel.channelType === PERSON)
        assert.deepEqual(
          missed.map((m) => m.content.text),
          [...want],
          "1:1 texts in order",
        );
      else assert.deepEqual(missed.map((m) => m.content.text).sort(), [...want].sort(), "every group text once");
      for (const m of missed) assert.equal(m.channel.channelID, conv.channel.channelID, "messages carry the channel as bob sees it");
    }
    assert.equal(bob.received.length, 0, "the new instance got no replay over the socket");
  });
});
