/** The SDK against a real server: chat over WS and TCP, sends retried under one client_msg_no, acks, refusals. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { build } from "esbuild";
import { ClientCipher, createKeyPair } from "../../src/client/client-crypto.js";
import {
  ClientClosedError,
  ConnectionRefusedError,
  InvalidOptionError,
  SendError,
  SwitchboardClient,
  tcpTransport,
} from "../../src/client/node.js";
import { PacketType } from "../../src/protocol/constants.js";
import { decryptPayload, deriveSession, sendMsgKey } from "../../src/protocol/index.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { WS, clientFactory, collect, registerUsers, sleep, tcpTap, until, wsTap } from "./helpers.js";

const KEY = "client-test-key";
const root = new URL("../..", import.meta.url).pathname;

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

describe("client options and bundle", () => {
  test("options that cannot work throw at construction", () => {
    const base = { apiUrl: "http://127.0.0.1:1", uid: "u", token: "t", WebSocket: WS };
    assert.throws(() => new SwitchboardClient({ ...base, transport: "tcp" }), InvalidOptionError);
    assert.throws(() => new SwitchboardClient({ ...base, backoff: { baseMs: 500, capMs: 100 } }), /backoff\.capMs/);
    assert.throws(() => new SwitchboardClient({ ...base, apiUrl: "127.0.0.1:5001" }), /apiUrl/);
    assert.throws(() => new SwitchboardClient({ ...base, heartbeatMs: 0 }), /heartbeatMs/);
  });

  test("the browser entry does not pull in node:net", async () => {
    const out = await build({
      entryPoints: [`${root}src/client/index.ts`],
      bundle: true,
      write: false,
      metafile: true,
      format: "esm",
      platform: "browser",
      alias: { "node:buffer": `${root}web/shims/node-buffer.js` },
      inject: [`${root}web/shims/buffer-global.js`],
      logLevel: "silent",
    });
    const inputs = Object.keys(out.metafile.inputs);
    assert.ok(!inputs.some((f) => f.includes("transport-tcp") || f.includes("node:net")), `browser bundle inputs: ${inputs.join(", ")}`);
  });
});

describe("SwitchboardClient against the real server", () => {
  let sb: TestServer;
  const { make, closeAll } = clientFactory(() => sb);
  before(async () => {
    sb = await startTestServer({ apiKey: KEY });
    const users = ["alice", "bob", "carol", "dave", "erin", "gina", "hank", "ivan", "judy", "kim", "leo"];
    await registerUsers(sb, KEY, users, [0, 1]);
  });
  after(async () => {
    closeAll();
    await sb?.stop();
  });

  test("chat over WebSocket: acks carry id and seq, the peer gets the text once", async () => {
    const alice = make("alice");
    const bob = make("bob");
    const atBob = collect(bob);
    await Promise.all([alice.connect(), bob.connect()]);
    assert.equal(alice.state, "connected");
    const acks: unknown[] = [];
    alice.on("ack", (a) => acks.push(a));
    const sent = await alice.send("bob", 1, "hi bob — 你好");
    assert.equal(sent.messageSeq, 1);
    assert.equal(sent.reasonCode, 1);
    assert.ok(sent.messageId > 0, "a message id");
    assert.deepEqual(acks, [sent], "one ack event with the result");
    const [m] = await until("bob's message", () => atBob.length > 0 && atBob);
    assert.equal(m.text, "hi bob — 你好");
    assert.equal(m.fromUid, "alice");
    assert.equal(m.channelId, "alice", "bob sees the channel as alice");
    assert.equal(m.messageId, sent.messageId);
    assert.equal(m.synced, false, "delivered live");
    // The same client_msg_no again, later: the server de-dups and answers with the first ids.
    assert.deepEqual(await alice.send("bob", 1, "hi bob — 你好", { clientMsgNo: sent.clientMsgNo }), sent);
    // Twice at once under one client_msg_no: one SEND, both callers get the answer.
    const [x, y] = await Promise.all([alice.send("bob", 1, "twice", "same-no"), alice.send("bob", 1, "twice", "same-no")]);
    assert.deepEqual(x, y);
    await sleep(100);
    assert.equal(atBob.length, 2, `bob got each message once: ${atBob.map((g) => g.text)}`);
  });

  test("chat over TCP", async () => {
    const carol = make("carol", { transport: "tcp", connect: tcpTransport() });
    const dave = make("dave", { transport: "tcp", connect: tcpTransport() });
    const atDave = collect(dave);
    const addrs: string[] = [];
    carol.on("connected", (c) => addrs.push(c.addr));
    await Promise.all([carol.connect(), dave.connect()]);
    assert.match(addrs[0], /^127\.0\.0\.1:\d+$/, "a tcp_addr from the route API");
    await carol.send("dave", 1, "over tcp");
    await dave.send("carol", 1, "back");
    const [m] = await until("dave's message", () => atDave.length > 0 && atDave);
    assert.equal(m.text, "over tcp");
    const noPersist = await carol.send("dave", 1, "typing…", { noPersist: true });
    assert.equal(noPersist.messageSeq, 0, "not stored, so no seq");
    await until("the unstored message", () => atDave.some((g) => g.text === "typing…"));
  });

  test("a lost SENDACK: the SEND is resent with the same client_msg_no and gets the same message id, stored once", async () => {
    const t = wsTap();
    const erin = make("erin", { connect: t.factory, resendMs: 200 });
    const gina = make("gina");
    const atGina = collect(gina);
    await Promise.all([erin.connect(), gina.connect()]);
    let dropped: { messageId: number; messageSeq: number } | undefined;
    t.onIncoming = (p) => {
      if (p.type !== PacketType.SENDACK || dropped) return "pass";
      dropped = p;
      return "drop";
    };
    const result = await erin.send("gina", 1, "are you there?");
    assert.ok(dropped, "the first SENDACK was dropped");
    assert.equal(result.messageId, dropped.messageId, "the resend got the stored message's id");
    assert.equal(result.messageSeq, dropped.messageSeq);
    const sends = t.sent.flatMap((s) => (s.packet.type === PacketType.SEND ? [s.packet] : []));
    assert.ok(sends.length >= 2, `sent, then resent (${sends.length} SENDs)`);
    for (const again of sends.slice(1)) {
      assert.equal(again.clientMsgNo, sends[0].clientMsgNo, "one client_msg_no");
      assert.equal(again.clientSeq, sends[0].clientSeq, "one client_seq");
      assert.equal(again.dup, true, "a resend is marked DUP");
    }
    assert.equal(sends[0].dup, false);
    const stored = await sb.post(
      "/channel/messagesync",
      { login_uid: "gina", channel_id: "erin", channel_type: 1, start_message_seq: 0, limit: 10 },
      { token: KEY },
    );
    assert.equal(stored.body.messages.length, 1, "stored once");
    await until("gina's message", () => atGina.length > 0);
    await sleep(100);
    assert.equal(atGina.length, 1, "delivered once");
  });

  test("a connection cut before SENDACK: the next connection resends it under the same client_msg_no", async () => {
    const t = tcpTap();
    const hank = make("hank", { transport: "tcp", connect: t.factory });
    await hank.connect();
    let cut: { messageId: number } | undefined;
    t.onIncoming = (p) => {
      if (p.type !== PacketType.SENDACK || cut) return "pass";
      cut = p;
      return "kill";
    };
    const events: string[] = [];
    hank.on("disconnected", () => events.push("disconnected"));
    hank.on("reconnecting", () => events.push("reconnecting"));
    hank.on("connected", () => events.push("connected"));
    const result = await hank.send("ivan", 1, "survives a cut");
    assert.ok(cut, "the first SENDACK never reached the client");
    assert.equal(result.messageId, cut.messageId);
    assert.deepEqual(events, ["disconnected", "reconnecting", "connected"]);
    const sends = t.sent.filter((s) => s.packet.type === PacketType.SEND);
    assert.deepEqual(
      sends.map((s) => s.conn),
      [1, 2],
      "written once on each connection",
    );
    const [a, b] = sends.map((s) => s.packet as { clientMsgNo: string });
    assert.equal(a.clientMsgNo, b.clientMsgNo);
  });

  test("SENDACK stops the client's resends", async () => {
    const t = wsTap();
    const judy = make("judy", { connect: t.factory, resendMs: 400 });
    await judy.connect();
    await Promise.all([judy.send("kim", 1, "one"), judy.send("kim", 1, "two"), judy.send("kim", 1, "three")]);
    await sleep(1_000);
    assert.equal(t.sent.filter((s) => s.packet.type === PacketType.SEND).length, 3, "no SEND after its SENDACK");
  });

  test("RECVACK stops the server's resends; without it the RECV comes again (DUP) and is shown once", async () => {
    const acking = wsTap();
    const silent = wsTap();
    const kimApp = make("kim", { connect: acking.factory });
    const kimWeb = make("kim", { connect: silent.factory, deviceFlag: 1 });
    silent.onOutgoing = (p) => (p.type === PacketType.RECVACK ? "drop" : "pass");
    const atWeb = collect(kimWeb);
    const atApp = collect(kimApp);
    await Promise.all([kimApp.connect(), kimWeb.connect()]);
    const leo = make("leo");
    const { messageId } = await leo.send("kim", 1, "ack me");
    const recvs = (t: typeof acking) => t.received.filter((r) => r.packet.type === PacketType.RECV && r.packet.messageId === messageId);
    // The server resends an unacknowledged RECV after 3 s (checked every second).
    await until("the resend to the device that does not ack", () => recvs(silent).length >= 2, 8_000);
    const again = recvs(silent)[1].packet as { dup: boolean };
    assert.equal(again.dup, true, "the resend is marked DUP");
    assert.equal(recvs(acking).length, 1, "the acking device got it once");
    assert.equal(acking.sent.filter((s) => s.packet.type === PacketType.RECVACK).length, 1, "and acked it once");
    assert.equal(atApp.filter((m) => m.messageId === messageId).length, 1);
    assert.equal(atWeb.filter((m) => m.messageId === messageId).length, 1, "the resent copy is not shown twice");
  });

  test("a RECV lost on a live connection leaves a gap that a sync fills", async () => {
    const t = wsTap();
    // Every copy of seq 2 is lost (the server's resends too): only the gap behind seq 3 tells.
    t.onIncoming = (p) => (p.type === PacketType.RECV && p.messageSeq === 2 ? "drop" : "pass");
    const bob = make("bob", { connect: t.factory, deviceFlag: 1, gapSyncMs: 200 });
    const leo = make("leo", { deviceFlag: 1 });
    await Promise.all([bob.connect(), leo.connect()]);
    const atBob = collect(bob);
    for (const text of ["g1", "g2", "g3"]) await leo.send("bob", 1, text);
    const fromLeo = () => atBob.filter((m) => m.fromUid === "leo");
    await until("all three", () => fromLeo().length === 3, 5_000);
    assert.deepEqual(
      fromLeo().map((m) => [m.text, m.synced]),
      [
        ["g1", false],
        ["g3", false],
        ["g2", true],
      ],
    );
  });

  test("a refused send rejects with its reason code; the connection stays", async () => {
    const erin = make("erin", { deviceFlag: 1 });
    await erin.connect();
    await assert.rejects(erin.send("no-such-group", 2, "x"), (err: unknown) => err instanceof SendError && err.reasonCode > 1);
    assert.equal(erin.connected, true);
    await assert.rejects(erin.send("", 1, "x"), TypeError);
  });

  test("a wrong token: one refusal with its reason, no reconnect storm, the client is closed", async () => {
    let routeLookups = 0;
    const mallory = make("alice", {
      token: "wrong",
      fetch: (url, init) => {
        if (String(url).includes("/route?")) routeLookups++;
        return fetch(url, init);
      },
    });
    const disconnects: { reasonCode?: number; willReconnect: boolean }[] = [];
    const errors: Error[] = [];
    let reconnects = 0;
    mallory.on("disconnected", (d) => disconnects.push(d));
    mallory.on("error", (e) => errors.push(e));
    mallory.on("reconnecting", () => reconnects++);
    await assert.rejects(mallory.connect(), (err: unknown) => err instanceof ConnectionRefusedError && err.reasonCode === 2);
    await sleep(300);
    assert.deepEqual(disconnects, [{ reason: "connect refused (reason 2)", reasonCode: 2, willReconnect: false }]);
    assert.equal(errors.length, 1, "one error event");
    assert.ok(errors[0] instanceof ConnectionRefusedError, `a refusal: ${errors[0]}`);
    assert.equal(reconnects, 0, "no reconnect");
    assert.equal(routeLookups, 1, "the router was asked once");
    assert.equal(mallory.state, "closed");
    await assert.rejects(mallory.send("bob", 1, "x"), (err: unknown) => err instanceof ClientClosedError && /reason 2/.test(err.message));
  });
});
