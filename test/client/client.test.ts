import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { ClientCipher, createKeyPair } from "../../src/client/client-crypto.js";
import { type ClientMessage, SendError, SwitchboardClient, tcpTransport } from "../../src/client/node.js";
import type { WebSocketConstructor } from "../../src/client/transport.js";
import { decryptPayload, deriveSession, sendMsgKey } from "../../src/protocol/index.js";
import { type TestServer, startTestServer } from "../helpers/server.js";

const clients: SwitchboardClient[] = [];

function client(sb: TestServer, uid: string, extra: Partial<ConstructorParameters<typeof SwitchboardClient>[0]> = {}): SwitchboardClient {
  const c = new SwitchboardClient({
    apiUrl: sb.apiUrl,
    uid,
    token: `t-${uid}`,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    backoff: { baseMs: 50, capMs: 400 },
    ...extra,
  });
  clients.push(c);
  return c;
}

function collect(c: SwitchboardClient): ClientMessage[] {
  const got: ClientMessage[] = [];
  c.on("message", (m) => got.push(m));
  return got;
}

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("client crypto (noble) agrees with the server's (node:crypto)", () => {
  test("keys, payload encryption and msg_key", () => {
    const keys = createKeyPair();
    const server = deriveSession(keys.publicKeyBase64);
    const cipher = new ClientCipher(keys, server.serverKeyBase64, server.salt);
    const plain = new TextEncoder().encode("héllo 世界 👋");
    const wire = cipher.encrypt(plain);
    assert.equal(decryptPayload(server, wire).toString(), "héllo 世界 👋");
    const fields = { clientSeq: 7, clientMsgNo: "abc", channelId: "bob", channelType: 1, payload: wire };
    assert.equal(cipher.msgKey("7abcbob1", wire), sendMsgKey(server, fields));
  });
});

describe("SwitchboardClient against the real server", () => {
  let sb: TestServer;
  before(async () => {
    sb = await startTestServer({ apiKey: "client-test-key" });
    for (const uid of ["alice", "bob", "carol", "dave", "erin", "frank"]) {
      const res = await sb.post("/user/token", { uid, token: `t-${uid}`, device_flag: 0 }, { token: "client-test-key" });
      assert.equal(res.status, 200);
    }
  });
  after(async () => {
    for (const c of clients) c.close();
    await sb?.stop();
  });

  test("chat over WebSocket: acks carry id and seq, the peer gets the text once", async () => {
    const alice = client(sb, "alice");
    const bob = client(sb, "bob");
    const atBob = collect(bob);
    await Promise.all([alice.connect(), bob.connect()]);
    const acks: unknown[] = [];
    alice.on("ack", (a) => acks.push(a));
    const sent = await alice.send("bob", 1, "hi bob — 你好");
    assert.equal(sent.messageSeq, 1);
    assert.ok(sent.messageId > 0, "a message id");
    assert.equal(acks.length, 1, "one ack event");
    const [m] = await until("bob's message", () => (atBob.length ? atBob : undefined));
    assert.equal(m.text, "hi bob — 你好");
    assert.equal(m.fromUid, "alice");
    assert.equal(m.channelId, "alice", "bob sees the channel as alice");
    assert.equal(m.messageId, sent.messageId);
    // The same client_msg_no again: the server de-dups, the client gets the first ids back.
    const again = await alice.send("bob", 1, "hi bob — 你好", sent.clientMsgNo);
    assert.deepEqual(again, sent);
  });

  test("chat over TCP", async () => {
    const carol = client(sb, "carol", { transport: "tcp", connect: tcpTransport() });
    const dave = client(sb, "dave", { transport: "tcp", connect: tcpTransport() });
    const atDave = collect(dave);
    await Promise.all([carol.connect(), dave.connect()]);
    await carol.send("dave", 1, "over tcp");
    const [m] = await until("dave's message", () => (atDave.length ? atDave : undefined));
    assert.equal(m.text, "over tcp");
    assert.equal(m.synced, false, "delivered live");
  });

  test("a wrong token is refused without a reconnect storm", async () => {
    const mallory = client(sb, "alice", { token: "wrong" });
    const events: { reasonCode?: number; willReconnect: boolean }[] = [];
    mallory.on("disconnected", (d) => events.push(d));
    await assert.rejects(mallory.connect(), /reason 2/);
    assert.equal(events.length, 1, "one disconnect, no retries");
    assert.equal(events[0].willReconnect, false);
    await assert.rejects(mallory.send("bob", 1, "x"), /closed/);
  });

  test("a refused send rejects with its reason code", async () => {
    const erin = client(sb, "erin");
    await erin.connect();
    await assert.rejects(erin.send("no-such-group", 2, "x"), (err: unknown) => err instanceof SendError && err.reasonCode > 1);
  });

  test("its node stops: the client re-routes to the live node and syncs what it missed, once each", async () => {
    const frank = client(sb, "frank");
    const atFrank = collect(frank);
    const reconnects: number[] = [];
    frank.on("reconnecting", (r) => reconnects.push(r.attempt));
    const addrs: string[] = [];
    frank.on("connected", (c) => addrs.push(c.addr));
    await frank.connect();
    const home = sb.nodes.find((n) => n.info().external.wsAddr === addrs[0].replace(/\/$/, ""));
    assert.ok(home, `frank's node is one of ours (${addrs[0]})`);
    const alice = client(sb, "alice");
    await alice.connect();
    await alice.send("frank", 1, "before");
    await until("live message", () => (atFrank.length === 1 ? true : undefined));

    await home.stop();
    const sent: number[] = [];
    for (let i = 0; i < 5; i++) sent.push((await alice.send("frank", 1, `while away ${i}`)).messageSeq);
    await until("reconnect", () => (addrs.length >= 2 ? true : undefined), 15_000);
    assert.notEqual(addrs[1], addrs[0], "reconnected to the other node");
    assert.ok(reconnects.length >= 1, "reconnecting was reported");
    await until("all six messages", () => (atFrank.length >= 6 ? true : undefined));
    const seqs = atFrank.map((m) => m.messageSeq);
    assert.deepEqual(seqs, [...new Set(seqs)], "no duplicates");
    assert.deepEqual(
      atFrank.slice(1).map((m) => m.text),
      [0, 1, 2, 3, 4].map((i) => `while away ${i}`),
    );
    assert.ok(
      atFrank.slice(1).every((m) => m.synced),
      "the missed ones came by sync",
    );
  });
});
