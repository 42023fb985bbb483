/**
 * The gateway's session state machine against the real embedded server (router + 2 nodes +
 * SQLite) over raw TCP with our own codec: auth, chat across nodes, acks and seqs, multi-device
 * copies, kicks, PING, idempotent retries, RECV resends, groups and the send rate limit.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  ChannelType,
  PacketType,
  ReasonCode,
  type SendackPacket,
  Setting,
  encodeDisconnect,
  encodePing,
} from "../../src/protocol/index.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { Client, type ConnectOptions, type Received } from "../helpers/wk/client.js";

const Person = ChannelType.Person;
const Group = ChannelType.Group;

/** Test-wide bookkeeping: every client is closed at the end. */
function clientPool() {
  const all: Client[] = [];
  return {
    track(c: Client) {
      all.push(c);
      return c;
    },
    closeAll() {
      for (const c of all) c.close();
    },
  };
}

function assertAck(ack: SendackPacket, what: string): void {
  assert.equal(ack.reasonCode, ReasonCode.Success, `${what}: SENDACK reason ${ack.reasonCode}`);
  assert.ok(ack.messageId > 0, `${what}: SENDACK carries a message_id (${ack.messageId})`);
  assert.ok(ack.messageSeq > 0, `${what}: SENDACK carries a message_seq (${ack.messageSeq})`);
}

function assertRecv(r: Received, ack: SendackPacket, from: string, channelId: string, channelType: number, what: string): void {
  assert.ok(r.msgKeyOk, `${what}: RECV msg_key verifies`);
  assert.equal(r.packet.fromUid, from, `${what}: from_uid`);
  assert.equal(r.packet.channelId, channelId, `${what}: channel_id as the receiver sees it`);
  assert.equal(r.packet.channelType, channelType, `${what}: channel_type`);
  assert.equal(r.packet.messageId, ack.messageId, `${what}: RECV message_id equals the SENDACK's`);
  assert.equal(r.packet.messageSeq, ack.messageSeq, `${what}: RECV message_seq equals the SENDACK's`);
}

describe("gateway sessions over TCP (token auth, two nodes)", () => {
  let sb: TestServer;
  let addrs: string[];
  const pool = clientPool();
  let n = 0;
  /** A uid unique to this run of this file. */
  const uid = (name: string) => `st-${name}-${++n}`;

  before(async () => {
    sb = await startTestServer({ nodes: 2 });
    addrs = sb.nodes.map((node) => node.info().external.tcpAddr);
    assert.equal(addrs.length, 2, "two gateway nodes");
    assert.notEqual(addrs[0], addrs[1], "the nodes listen on different ports");
  });
  after(async () => {
    pool.closeAll();
    await sb?.stop();
  });

  async function setToken(who: string, deviceFlag = 0): Promise<string> {
    const token = `token-${who}-${deviceFlag}`;
    const res = await sb.post("/user/token", { uid: who, token, device_flag: deviceFlag });
    assert.equal(res.status, 200, `POST /user/token for ${who}: ${JSON.stringify(res.body)}`);
    return token;
  }

  /** Token, then CONNECT on node `node`; asserts the CONNACK succeeded. */
  async function login(who: string, node: number, o: Partial<ConnectOptions> = {}): Promise<Client> {
    const token = await setToken(who, o.deviceFlag ?? 0);
    const c = pool.track(await Client.connect(addrs[node], { uid: who, token, ...o }));
    assert.equal(c.connack?.reasonCode, ReasonCode.Success, `${who} connects to node ${node}`);
    return c;
  }

  test("a wrong, missing or other-device token is refused with AuthFail and the connection closed", async () => {
    const who = uid("auth");
    const token = await setToken(who, 0);
    const refusals: [string, ConnectOptions][] = [
      ["wrong token", { uid: who, token: `${token}x` }],
      ["empty token", { uid: who, token: "" }],
      ["token of device 0 used as device 1", { uid: who, token, deviceFlag: 1 }],
      ["a uid with no token at all", { uid: uid("nobody"), token }],
    ];
    for (const [what, opts] of refusals) {
      const c = pool.track(await Client.connect(addrs[0], opts));
      assert.equal(c.connack?.reasonCode, ReasonCode.AuthFail, `${what}: CONNACK reason`);
      assert.equal(c.connack?.serverKey, "", `${what}: no server key on a refusal`);
      await c.ended();
      assert.ok(c.closed, `${what}: the server closed the connection`);
    }
    const ok = pool.track(await Client.connect(addrs[1], { uid: who, token }));
    assert.equal(ok.connack?.reasonCode, ReasonCode.Success, "the right token connects");
    assert.equal(ok.connack?.serverVersion, 5, "protocol 5 negotiated");
    await ok.ping();
  });

  test("token-less dev mode (tokenAuth: false) accepts any token and chats", async () => {
    const dev = await startTestServer({ tokenAuth: false, nodes: 1 });
    const devPool = clientPool();
    try {
      const addr = dev.nodes[0].info().external.tcpAddr;
      const a = devPool.track(await Client.connect(addr, { uid: "dev-a", token: "" }));
      const b = devPool.track(await Client.connect(addr, { uid: "dev-b", token: "whatever" }));
      assert.equal(a.connack?.reasonCode, ReasonCode.Success, "empty token accepted");
      assert.equal(b.connack?.reasonCode, ReasonCode.Success, "any token accepted");
      const ack = await a.send("dev-b", Person, "dev hello");
      assertAck(ack, "dev send");
      assertRecv(await b.waitRecv("dev hello", (r) => r.text === "dev hello"), ack, "dev-a", "dev-a", Person, "dev recv");
    } finally {
      devPool.closeAll();
      await dev.stop();
    }
  });

  test("two users on different nodes chat both ways; seqs 1,2,3 on the channel; non-ASCII text intact", async () => {
    const a = uid("alice");
    const b = uid("bob");
    const alice = await login(a, 0);
    const bob = await login(b, 1);
    const texts = ["héllo wörld — ünïcödé ✓", "你好，世界 👋🏽 مرحبا שלום", "emoji 🎉🚀👨‍👩‍👧‍👦 and \u0000 NUL and 𝄞"];
    const steps: [Client, Client, string, string][] = [
      [alice, bob, a, b],
      [bob, alice, b, a],
      [alice, bob, a, b],
    ];
    const ids = new Set<number>();
    for (const [i, [from, to, fromUid, toUid]] of steps.entries()) {
      const ack = await from.send(toUid, Person, texts[i]);
      assertAck(ack, `message ${i + 1}`);
      assert.equal(ack.messageSeq, i + 1, `message ${i + 1} gets seq ${i + 1} on the shared person channel`);
      ids.add(ack.messageId);
      const r = await to.waitRecv(texts[i], (x) => x.text === texts[i]);
      assertRecv(r, ack, fromUid, fromUid, Person, `message ${i + 1}`);
      assert.equal(r.packet.redDot, true, `message ${i + 1} counts as unread for the receiver`);
      assert.equal(r.packet.dup, false, `message ${i + 1} first delivery is not DUP`);
      assert.ok(r.packet.timestamp > 1_600_000_000, `message ${i + 1} has a unix-seconds timestamp`);
    }
    assert.equal(ids.size, 3, "three distinct message_ids");
    // Each side received exactly what the other sent, once.
    assert.deepEqual(
      bob.recvs.map((r) => r.text),
      [texts[0], texts[2]],
      "bob got alice's two messages",
    );
    assert.deepEqual(
      alice.recvs.map((r) => r.text),
      [texts[1]],
      "alice got bob's message and not her own",
    );
  });

  test("the sender's other device gets a copy (peer as channel, no red dot); the sending connection does not", async () => {
    const a = uid("multi");
    const b = uid("peer");
    const app = await login(a, 0, { deviceFlag: 0 });
    const web = await login(a, 1, { deviceFlag: 1 });
    const peer = await login(b, 0);
    const ack = await app.send(b, Person, "from the app 📱");
    assertAck(ack, "app send");
    assertRecv(await peer.waitRecv("app msg", (r) => r.text === "from the app 📱"), ack, a, a, Person, "peer copy");
    const copy = await web.waitRecv("app msg copy", (r) => r.text === "from the app 📱");
    assertRecv(copy, ack, a, b, Person, "web copy");
    assert.equal(copy.packet.redDot, false, "the sender's own copy is not unread");
    // All local deliveries of one message are written together; the PONG comes after them.
    await app.ping();
    assert.equal(app.recvs.length, 0, `the sending connection got no RECV: ${JSON.stringify(app.recvs.map((r) => r.text))}`);

    const ack2 = await web.send(b, Person, "from the web 🌐");
    assertAck(ack2, "web send");
    assertRecv(await app.waitRecv("web msg copy", (r) => r.text === "from the web 🌐"), ack2, a, b, Person, "app copy");
    await peer.waitRecv("web msg", (r) => r.text === "from the web 🌐");
    await web.ping();
    assert.equal(web.recvsOf("from the web 🌐").length, 0, "the web connection got no copy of its own message");
  });

  test("a second login of the same uid and device kicks the first with DISCONNECT ConnectKick", async () => {
    const c = uid("carol");
    const d = uid("dave");
    const first = await login(c, 0, { deviceFlag: 0 });
    const otherDevice = await login(c, 0, { deviceFlag: 1 });
    const dave = await login(d, 1);
    const second = pool.track(await Client.connect(addrs[1], { uid: c, token: `token-${c}-0`, deviceFlag: 0 }));
    assert.equal(second.connack?.reasonCode, ReasonCode.Success, "the second login connects");
    const kick = await first.ended();
    assert.equal(kick?.reasonCode, ReasonCode.ConnectKick, `the first login is kicked with ConnectKick: ${JSON.stringify(kick)}`);
    assert.ok(first.closed, "the kicked connection is closed");
    await otherDevice.ping();
    assert.equal(otherDevice.closed, false, "another device flag of the same uid is not kicked");
    const ack = await dave.send(c, Person, "who is there?");
    assertAck(ack, "send to carol");
    assertRecv(await second.waitRecv("to carol", (r) => r.text === "who is there?"), ack, d, d, Person, "second login gets it");
    await otherDevice.waitRecv("to carol", (r) => r.text === "who is there?");
    const online = await sb.post("/user/onlinestatus", [c]);
    assert.equal(online.status, 200, "onlinestatus answers");
    const flags = (online.body as { device_flag: number }[]).map((r) => r.device_flag).sort();
    assert.deepEqual(flags, [0, 1], `one binding per device after the kick: ${JSON.stringify(online.body)}`);
    // The kicked connection is gone; a third login on node 0 kicks the second in turn.
    const third = pool.track(await Client.connect(addrs[0], { uid: c, token: `token-${c}-0`, deviceFlag: 0 }));
    assert.equal(third.connack?.reasonCode, ReasonCode.Success, "the third login connects");
    assert.equal((await second.ended())?.reasonCode, ReasonCode.ConnectKick, "the second login is kicked by the third");
  });

  test("non-ASCII uids chat, a 200 KB message crosses nodes, a SEND split byte by byte is reassembled", async () => {
    const a = `用户-😀-${++n}`;
    const b = `Zoë-ßü-${++n}`;
    const ua = await login(a, 0);
    const ub = await login(b, 1);
    const ack = await ua.send(b, Person, "こんにちは");
    assertAck(ack, "non-ASCII uid send");
    assertRecv(await ub.waitRecv("from a", (r) => r.text === "こんにちは"), ack, a, a, Person, "non-ASCII uid recv");
    const big = "✉".repeat(70_000); // 210 KB of UTF-8, ~280 KB on the wire once encrypted
    const bigAck = await ub.send(a, Person, big);
    assertAck(bigAck, "big send");
    assertRecv(await ua.waitRecv("big", (r) => r.text === big), bigAck, b, b, Person, "big recv");
    const split = await ua.send(b, Person, "one byte at a time ⏳", { chunkSize: 1 });
    assertAck(split, "split send");
    assert.equal(split.messageSeq, 3, "third message on the channel");
    await ub.waitRecv("split", (r) => r.text === "one byte at a time ⏳");
  });

  test("a user may message themself: their other device gets it, with their own uid as channel", async () => {
    const a = uid("self");
    const one = await login(a, 0, { deviceFlag: 0 });
    const two = await login(a, 1, { deviceFlag: 2 });
    const ack = await one.send(a, Person, "note to self 📝");
    assertAck(ack, "self send");
    assertRecv(await two.waitRecv("self note", (r) => r.text === "note to self 📝"), ack, a, a, Person, "self note");
    await one.ping();
    assert.equal(one.recvs.length, 0, "the sending connection gets no copy");
  });

  test("a PING glued to the CONNECT is answered after the CONNACK", async () => {
    const who = uid("glued");
    const token = await setToken(who);
    const c = pool.track(await Client.connect(addrs[0], { uid: who, token, glue: encodePing() }));
    assert.equal(c.connack?.reasonCode, ReasonCode.Success, "glued CONNECT accepted");
    await c.waitFor("PONG", () => c.packets.find((p) => p.type === PacketType.PONG));
    const types = c.packets.map((p) => p.type);
    assert.deepEqual(types, [PacketType.CONNACK, PacketType.PONG], `CONNACK first, then PONG: ${types}`);
  });

  test("clients of protocol versions 2, 3, 4 and 5 chat with each other", async () => {
    const versions = [2, 3, 4, 5];
    const users = await Promise.all(versions.map((v, i) => login(uid(`v${v}`), i % 2, { version: v })));
    for (const [i, u] of users.entries()) {
      const v = versions[i];
      assert.equal(u.connack?.hasServerVersion, v > 3, `v${v}: server_version announced exactly when version > 3`);
      if (v > 3) assert.equal(u.connack?.serverVersion, v, `v${v}: negotiated version`);
    }
    for (const [i, from] of users.entries()) {
      const to = users[(i + 1) % users.length];
      const text = `from v${versions[i]} to v${versions[(i + 1) % users.length]} ✓`;
      const ack = await from.send(to.uid, Person, text);
      assertAck(ack, text);
      assertRecv(await to.waitRecv(text, (r) => r.text === text), ack, from.uid, from.uid, Person, text);
    }
  });

  test("a client's DISCONNECT ends its session: the server closes and the user goes offline", async () => {
    const who = uid("leaver");
    const c = await login(who, 1);
    c.write(encodeDisconnect({ type: PacketType.DISCONNECT, reasonCode: ReasonCode.Success, reason: "bye" }, 5));
    await c.ended();
    assert.ok(c.closed, "closed after the client's DISCONNECT");
    assert.equal(c.disconnect, undefined, "the server sends no DISCONNECT back");
    const again = await login(who, 0);
    await again.ping();
    assert.equal(again.closed, false, "logging in again is not kicked by a stale session");
  });

  test("simultaneous logins of one uid and device: exactly one survives, the others get ConnectKick", async () => {
    const who = uid("racer");
    const token = await setToken(who);
    const logins = await Promise.all(
      [0, 1, 0, 1, 0, 1].map((node) => Client.connect(addrs[node], { uid: who, token }).then((c) => pool.track(c))),
    );
    // Each one either was refused (CONNACK ConnectKick) or connected; all but one connected one get kicked.
    const connected = logins.filter((c) => c.connack?.reasonCode === ReasonCode.Success);
    for (const c of logins.filter((x) => !connected.includes(x)))
      assert.equal(c.connack?.reasonCode, ReasonCode.ConnectKick, `a refused racer says ConnectKick: ${c.connack?.reasonCode}`);
    assert.ok(connected.length >= 1, "at least one login went through");
    // The newest binding wins: wait until all connected ones but one are kicked.
    const need = connected.length - 1;
    await new Promise<void>((resolve, reject) => {
      let kicked = 0;
      if (need === 0) resolve();
      const timer = setTimeout(() => reject(new Error(`only ${kicked} of ${need} displaced logins were kicked`)), 5_000);
      for (const c of connected)
        c.ended(10_000).then(
          () => {
            if (++kicked === need) {
              clearTimeout(timer);
              resolve();
            }
          },
          () => undefined,
        );
    });
    const alive = connected.filter((c) => !c.closed);
    assert.equal(alive.length, 1, `exactly one login survives (of ${connected.length} connected)`);
    await alive[0].ping();
    for (const c of connected.filter((x) => x.closed))
      assert.equal(c.disconnect?.reasonCode, ReasonCode.ConnectKick, `a displaced racer got ConnectKick: ${JSON.stringify(c.disconnect)}`);
    const sender = await login(uid("racer-peer"), 0);
    const ack = await sender.send(who, Person, "to the survivor");
    assertAck(ack, "send to the survivor");
    await alive[0].waitRecv("survivor", (r) => r.text === "to the survivor");
    const online = await sb.post("/user/onlinestatus", [who]);
    assert.equal((online.body as unknown[]).length, 1, `one binding left: ${JSON.stringify(online.body)}`);
  });

  test("header flags, setting and topic travel from SEND to RECV; NoPersist messages get seq 0", async () => {
    const a = uid("flags");
    const b = uid("flags-peer");
    const from = await login(a, 0);
    const to = await login(b, 1);
    const transient = await from.send(b, Person, "typing…", {
      tamper: (p) => {
        p.noPersist = true;
        p.redDot = false;
      },
    });
    assert.equal(transient.reasonCode, ReasonCode.Success, "NoPersist SEND accepted");
    assert.ok(transient.messageId > 0, "NoPersist SEND still gets a message_id");
    assert.equal(transient.messageSeq, 0, "NoPersist SEND is not stored: seq 0");
    const t = await to.waitRecv("typing", (r) => r.text === "typing…");
    assert.ok(t.msgKeyOk, "NoPersist RECV msg_key verifies");
    assert.deepEqual([t.packet.noPersist, t.packet.redDot, t.packet.messageSeq], [true, false, 0], "NoPersist RECV flags and seq");
    const topical = await from.send(b, Person, "with a topic", {
      tamper: (p) => {
        p.setting |= Setting.Topic | Setting.Receipt;
        p.topic = "news 📰";
      },
    });
    assertAck(topical, "topic SEND");
    assert.equal(topical.messageSeq, 1, "the NoPersist message used no seq");
    const r = await to.waitRecv("topic", (x) => x.text === "with a topic");
    assertRecv(r, topical, a, a, Person, "topic RECV");
    assert.equal(r.packet.topic, "news 📰", "RECV carries the topic");
    assert.equal(r.packet.setting & (Setting.Topic | Setting.Receipt), Setting.Topic | Setting.Receipt, "RECV keeps the setting bits");
  });

  test("PING is answered by PONG, repeatedly", async () => {
    const c = await login(uid("pinger"), 1);
    for (let i = 0; i < 3; i++) await c.ping();
    assert.equal(c.packets.filter((p) => p.type === PacketType.PONG).length, 3, "three PONGs for three PINGs");
  });

  test("a retried SEND with the same client_msg_no gets the same message_id/seq and is delivered once", async () => {
    const a = uid("retry");
    const b = uid("retry-peer");
    const sender = await login(a, 0);
    const receiver = await login(b, 1);
    const clientMsgNo = `retry-${Date.now()}`;
    const first = await sender.send(b, Person, "only once", { clientMsgNo });
    assertAck(first, "first send");
    const again = await sender.send(b, Person, "only once", { clientMsgNo });
    assertAck(again, "retried send");
    assert.equal(again.messageId, first.messageId, "same message_id on retry");
    assert.equal(again.messageSeq, first.messageSeq, "same message_seq on retry");
    const next = await sender.send(b, Person, "after the retry");
    assertAck(next, "next send");
    assert.equal(next.messageSeq, first.messageSeq + 1, "the retry used no seq");
    await receiver.waitRecv("after the retry", (r) => r.text === "after the retry");
    // A retry racing the original (both in one store batch) is still one message.
    const racing = `race-${Date.now()}`;
    const [r1, r2] = await Promise.all([
      sender.send(b, Person, "racing", { clientMsgNo: racing }),
      sender.send(b, Person, "racing", { clientMsgNo: racing }),
    ]);
    assertAck(r1, "racing original");
    assertAck(r2, "racing retry");
    assert.deepEqual([r2.messageId, r2.messageSeq], [r1.messageId, r1.messageSeq], "racing retry gets the same id/seq");
    // Another user may use the same client_msg_no: it is a different message.
    const other = await login(uid("retry-other"), 1);
    const theirs = await other.send(b, Person, "same number, other sender", { clientMsgNo });
    assertAck(theirs, "other sender, same client_msg_no");
    assert.notEqual(theirs.messageId, first.messageId, "a different sender's message is not a duplicate");
    const last = await sender.send(b, Person, "last");
    assert.equal(last.messageSeq, r1.messageSeq + 1, "the racing retry used no seq");
    await receiver.waitRecv("last", (r) => r.text === "last");
    await receiver.waitRecv("other sender", (r) => r.text === "same number, other sender");
    await receiver.ping();
    assert.equal(receiver.recvsOf("only once").length, 1, "the message was delivered exactly once");
    assert.equal(receiver.recvsOf("racing").length, 1, "the racing message was delivered exactly once");
  });

  test("an un-acked RECV is resent with DUP until RECVACK, then no more", { timeout: 30_000 }, async () => {
    const a = uid("resend-from");
    const b = uid("resend-to");
    const sender = await login(a, 0);
    const lazy = await login(b, 1, { autoAck: false });
    const ack1 = await sender.send(b, Person, "m1");
    const r1 = await lazy.waitRecv("m1", (r) => r.text === "m1");
    assert.equal(r1.packet.dup, false, "the first delivery is not DUP");
    // m2 is tracked after m1, so each of m1's resends is due no later than m2's.
    const ack2 = await sender.send(b, Person, "m2");
    await lazy.waitRecv("m2", (r) => r.text === "m2");
    const dup1 = await lazy.waitRecv("m1 resent", (r) => r.text === "m1" && r.packet.dup, 8_000);
    assertRecv(dup1, ack1, a, a, Person, "resent m1");
    assert.equal(dup1.packet.clientMsgNo, r1.packet.clientMsgNo, "the resend keeps the client_msg_no");
    await lazy.waitRecv("m2 resent", (r) => r.text === "m2" && r.packet.dup, 8_000);
    lazy.recvack(dup1);
    await lazy.ping();
    // m2's second resend comes in a sweep where m1 would be due too, and m1 would be written first.
    await lazy.waitFor("m2 resent twice", () => (lazy.recvsOf("m2").filter((r) => r.packet.dup).length >= 2 ? true : undefined), 12_000);
    assert.equal(lazy.recvsOf("m1").length, 2, "m1: one delivery and one resend, then nothing after its RECVACK");
    const m2 = lazy.recvsOf("m2");
    for (const r of m2) assertRecv(r, ack2, a, a, Person, "m2 copy");
    lazy.recvack(m2[0]);
    await lazy.ping();
  });

  test("group: a SEND reaches every online member on both nodes; a non-member gets SubscriberNotExist", async () => {
    const group = `grp-${++n}`;
    const [g1, g2, g3, out] = [uid("g1"), uid("g2"), uid("g3"), uid("outsider")];
    const res = await sb.post("/channel", { channel_id: group, channel_type: Group, subscribers: [g1, g2, g3] });
    assert.equal(res.status, 200, `POST /channel: ${JSON.stringify(res.body)}`);
    const m1 = await login(g1, 0);
    const m2 = await login(g2, 1);
    const m3 = await login(g3, 0);
    const m3web = await login(g3, 1, { deviceFlag: 1 });
    const outsider = await login(out, 1);
    const ack = await m1.send(group, Group, "hello group 👥");
    assertAck(ack, "group send");
    assert.equal(ack.messageSeq, 1, "first message of the group has seq 1");
    for (const [name, c] of [
      ["g2", m2],
      ["g3", m3],
      ["g3 web", m3web],
    ] as const) {
      const r = await c.waitRecv(`group msg at ${name}`, (x) => x.text === "hello group 👥");
      assertRecv(r, ack, g1, group, Group, `group msg at ${name}`);
    }
    const refused = await outsider.send(group, Group, "let me in");
    assert.equal(refused.reasonCode, ReasonCode.SubscriberNotExist, "a non-member's group SEND is refused");
    assert.equal(refused.messageId, 0, "a refused SEND has no message_id");
    const ack2 = await m2.send(group, Group, "second");
    assertAck(ack2, "second group send");
    assert.equal(ack2.messageSeq, 2, "the refused send used no seq");
    await m1.waitRecv("second", (r) => r.text === "second");
    await m3.waitRecv("second", (r) => r.text === "second");
    await m1.ping();
    assert.equal(m1.recvsOf("hello group 👥").length, 0, "the sending connection gets no copy");
    for (const c of [m1, m2, m3, m3web]) assert.equal(c.recvsOf("let me in").length, 0, `${c.uid} never got the outsider's message`);
    await outsider.ping();
    assert.equal(outsider.closed, false, "a refused SEND does not close the connection");
  });

  test("sending to a group that does not exist gets ChannelNotExist", async () => {
    const c = await login(uid("nogroup"), 0);
    const ack = await c.send(`no-such-group-${n}`, Group, "anyone?");
    assert.equal(ack.reasonCode, ReasonCode.ChannelNotExist, "unknown group refused");
    await c.ping();
  });
});

describe("send rate limit over TCP", () => {
  let sb: TestServer;
  let addr: string;
  const pool = clientPool();
  before(async () => {
    sb = await startTestServer({ tokenAuth: false, nodes: 1, sendRate: 1 });
    addr = sb.nodes[0].info().external.tcpAddr;
  });
  after(async () => {
    pool.closeAll();
    await sb?.stop();
  });

  test("a burst over the rate gets RateLimit SENDACKs (not delivered); a flood is disconnected with RateLimit", async () => {
    const flooder = pool.track(await Client.connect(addr, { uid: "rl-flooder" }));
    const peer = pool.track(await Client.connect(addr, { uid: "rl-peer" }));
    assert.equal(flooder.connack?.reasonCode, ReasonCode.Success, "flooder connects");
    assert.equal(peer.connack?.reasonCode, ReasonCode.Success, "peer connects");
    // Rate 1/s, burst 2: of 8 SENDs written at once about two pass.
    const acks = await Promise.all(Array.from({ length: 8 }, (_, i) => flooder.send("rl-peer", Person, `burst ${i}`)));
    const passed = acks.filter((a) => a.reasonCode === ReasonCode.Success);
    const limited = acks.filter((a) => a.reasonCode === ReasonCode.RateLimit);
    assert.ok(passed.length >= 1 && passed.length <= 3, `about the burst passes: ${passed.length}`);
    assert.equal(passed.length + limited.length, 8, `every other SEND is refused with RateLimit: ${acks.map((a) => a.reasonCode)}`);
    for (const a of passed) await peer.waitRecv(`burst seq ${a.messageSeq}`, (r) => r.packet.messageId === a.messageId);
    await peer.ping();
    assert.equal(peer.recvs.length, passed.length, "only the accepted SENDs were delivered");
    // Keep flooding: after RATE_LIMIT_STRIKES refusals in a row the connection is dropped.
    for (let i = 0; i < 80 && !flooder.closed; i++) flooder.send("rl-peer", Person, `flood ${i}`).catch(() => undefined);
    const bye = await flooder.ended();
    assert.equal(bye?.reasonCode, ReasonCode.RateLimit, `flood disconnected with RateLimit: ${JSON.stringify(bye)}`);
    // The peer is untouched.
    const other = pool.track(await Client.connect(addr, { uid: "rl-other" }));
    const ack = await other.send("rl-peer", Person, "calm message");
    assertAck(ack, "calm send");
    await peer.waitRecv("calm message", (r) => r.text === "calm message");
  });
});
