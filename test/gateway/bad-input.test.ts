/**
 * Bad input on a gateway TCP connection, against the real server (token auth on, two nodes):
 * every malformed, oversized, out-of-order or forged frame gets a reason code (DISCONNECT, a
 * refused CONNACK, or a SENDACK for per-message faults) and a close where the stream cannot go on,
 * while a good pair of users on the two nodes keeps chatting after every case. A first frame that
 * is hostile the way a scanner or a broken client would be is checked the same way.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AUTH_TIMEOUT_MS } from "../../src/gateway/gateway-node.js";
import { MAX_PACKETS_BEFORE_CONNACK } from "../../src/gateway/session.js";
import {
  ChannelType,
  type ConnectPacket,
  type Packet,
  PacketType,
  ReasonCode,
  Setting,
  encodePing,
  encodeSendack,
} from "../../src/protocol/index.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { Client } from "../helpers/wk/client.js";
import { connectFrame, frameHeader } from "../helpers/wk/packets.js";

const Person = ChannelType.Person;

/** Fixed header of a SEND claiming `length` body bytes. */
const sendHeader = (length: number) => frameHeader(PacketType.SEND, length);

/** The reason code of the first DISCONNECT or CONNACK. */
const reasonOf = (packets: Packet[]) => {
  const p = packets.find((x) => x.type === PacketType.DISCONNECT || x.type === PacketType.CONNACK);
  return p && "reasonCode" in p ? p.reasonCode : undefined;
};

describe("bad input on gateway TCP connections", () => {
  let sb: TestServer;
  let addrs: string[];
  let alice: Client;
  let bob: Client;
  const extra: Client[] = [];
  let n = 0;
  let chats = 0;

  before(async () => {
    sb = await startTestServer({ nodes: 2 });
    addrs = sb.nodes.map((node) => node.info().external.tcpAddr);
    alice = await login("bi-alice", 0);
    bob = await login("bi-bob", 1);
  });
  after(async () => {
    for (const c of [alice, bob, ...extra]) c?.close();
    await sb?.stop();
  });

  async function login(uid: string, node: number): Promise<Client> {
    const token = `tok-${uid}`;
    const res = await sb.post("/user/token", { uid, token, device_flag: 0 });
    assert.equal(res.status, 200, `token for ${uid}: ${JSON.stringify(res.body)}`);
    const c = await Client.connect(addrs[node], { uid, token });
    extra.push(c);
    assert.equal(c.connack?.reasonCode, ReasonCode.Success, `${uid} logs in`);
    return c;
  }

  /** A connection that never authenticated (nothing sent yet). */
  async function stranger(node = 0, version?: number): Promise<Client> {
    const c = await Client.open(addrs[node], { version });
    extra.push(c);
    return c;
  }

  /** The good pair, on different nodes, still chats both ways. */
  async function stillChatting(): Promise<void> {
    const i = ++chats;
    const ab = await alice.send("bi-bob", Person, `ping ${i} 🏓`);
    assert.equal(ab.reasonCode, ReasonCode.Success, `alice -> bob ${i} stored`);
    await bob.waitRecv(`alice's ${i}`, (r) => r.text === `ping ${i} 🏓`);
    const ba = await bob.send("bi-alice", Person, `pong ${i} 🏓`);
    assert.equal(ba.reasonCode, ReasonCode.Success, `bob -> alice ${i} stored`);
    await alice.waitRecv(`bob's ${i}`, (r) => r.text === `pong ${i} 🏓`);
    assert.ok(!alice.closed && !bob.closed, "the good pair is still connected");
  }

  /** The server sends a DISCONNECT with `reason` and closes. */
  async function assertKicked(c: Client, reason: number, what: string): Promise<void> {
    const d = await c.ended();
    assert.ok(c.closed, `${what}: connection closed`);
    assert.equal(d?.reasonCode, reason, `${what}: DISCONNECT reason ${JSON.stringify(d)}`);
    assert.ok((d?.reason.length ?? 0) > 0, `${what}: the DISCONNECT says why`);
  }

  test("garbage bytes (an unknown packet type first) get DISCONNECT NotSupportHeader", async () => {
    const c = await stranger();
    c.write(Buffer.from([0x00, 0xde, 0xad, 0xbe, 0xef, 0x13, 0x37]));
    await assertKicked(c, ReasonCode.NotSupportHeader, "garbage");
    await stillChatting();
  });

  // A first frame a scanner or a broken client would send (decoded at version 4, as an older client would).
  const hostile: [string, (c: Client) => void, number | undefined][] = [
    ["garbage bytes", (c) => c.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), undefined],
    ["a PING before CONNECT", (c) => c.write(encodePing()), ReasonCode.AuthFail],
    ["an unknown packet type", (c) => c.write(Uint8Array.of(0xf0, 0x00)), undefined],
    ["a length over the frame limit", (c) => c.write(Uint8Array.of(0x10, 0xff, 0xff, 0xff, 0x7f)), undefined],
    ["protocol version 1", (c) => c.write(connectFrame({ uid: "h-bad", deviceId: "d", version: 1 })), undefined],
    [
      "a truncated CONNECT, then the client hangs up",
      (c) => {
        c.write(connectFrame({ uid: "h-bad", deviceId: "d", version: 4 }).subarray(0, 9));
        c.end();
      },
      undefined,
    ],
  ];
  for (const [name, run, reason] of hostile) {
    test(`${name}: closed with a reason, others unaffected`, async () => {
      const c = await stranger(0, 4);
      run(c);
      await c.ended(8_000);
      assert.equal(c.closed, true, "the server closed the connection");
      if (reason !== undefined) assert.equal(reasonOf(c.packets), reason, `reason code for ${name}`);
      else if (c.packets.length > 0)
        assert.ok((reasonOf(c.packets) ?? 1) !== ReasonCode.Success, `no success answer: ${JSON.stringify(c.packets)}`);
      await stillChatting();
    });
  }

  test("a first packet other than CONNECT (PING, SEND) gets DISCONNECT AuthFail", async () => {
    const ping = await stranger(0);
    ping.write(encodePing());
    await assertKicked(ping, ReasonCode.AuthFail, "PING before CONNECT");
    const send = await stranger(1);
    send.write(Buffer.concat([sendHeader(4), Buffer.from([0, 0, 0, 0])]));
    // A 4-byte SEND body does not parse either; whichever check fires, the stranger is refused.
    const d = await send.ended();
    assert.ok(
      d?.reasonCode === ReasonCode.AuthFail || d?.reasonCode === ReasonCode.PayloadDecodeError,
      `SEND before CONNECT refused: ${JSON.stringify(d)}`,
    );
    await stillChatting();
  });

  test("a flood of packets glued behind CONNECT, before the CONNACK, gets DISCONNECT RateLimit", async () => {
    const token = "tok-bi-flood";
    assert.equal((await sb.post("/user/token", { uid: "bi-flood", token, device_flag: 0 })).status, 200, "token set");
    const pings = Array.from({ length: MAX_PACKETS_BEFORE_CONNACK + 1 }, () => encodePing());
    const flood = await stranger();
    flood.write(Buffer.concat([connectFrame({ uid: "bi-flood", token }), ...pings]));
    await assertKicked(flood, ReasonCode.RateLimit, "packets before CONNACK");
    // Up to the limit they wait for the CONNACK and are then answered in order.
    const fine = await stranger();
    fine.write(Buffer.concat([connectFrame({ uid: "bi-flood", token }), ...pings.slice(1)]));
    const pongs = () => fine.packets.filter((p) => p.type === PacketType.PONG).length;
    await fine.waitFor("every PONG", () => (pongs() === MAX_PACKETS_BEFORE_CONNACK ? true : undefined));
    assert.equal(fine.packets[0].type, PacketType.CONNACK, "CONNACK first");
    await stillChatting();
  });

  test("a truncated frame, then the client hangs up: closed, nothing else affected", async () => {
    const pre = await stranger();
    pre.write(connectFrame({ uid: "bi-half" }).subarray(0, 9));
    pre.end();
    await pre.ended();
    assert.ok(pre.closed, "half a CONNECT then FIN: closed");

    const user = await login(`bi-trunc-${++n}`, 1);
    const frame = Buffer.concat([sendHeader(60), Buffer.alloc(20, 0x41)]);
    user.write(frame);
    user.end();
    await user.ended();
    assert.ok(user.closed, "half a SEND then FIN: closed");
    assert.equal(user.recvs.length, 0, "nothing was delivered to the truncating client");
    await stillChatting();
  });

  test("a remaining length over the frame limit is refused at once with NotSupportHeader", async () => {
    const pre = await stranger();
    pre.write(sendHeader(1024 * 1024 + 1)); // default max frame 1 MiB; no body follows
    await assertKicked(pre, ReasonCode.NotSupportHeader, "oversized length before CONNECT");
    const user = await login(`bi-big-${++n}`, 0);
    user.write(Buffer.concat([sendHeader(64 * 1024 * 1024), Buffer.alloc(1000)]));
    await assertKicked(user, ReasonCode.NotSupportHeader, "oversized length after CONNECT");
    const varint = await login(`bi-varint-${++n}`, 1);
    varint.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
    await assertKicked(varint, ReasonCode.NotSupportHeader, "5-byte length varint");
    await stillChatting();
  });

  test("an unknown packet type, or a server-only one, from a logged-in client gets NotSupportHeader", async () => {
    const unknown = await login(`bi-unknown-${++n}`, 0);
    unknown.write(Buffer.from([0xd0, 0x00]));
    await assertKicked(unknown, ReasonCode.NotSupportHeader, "packet type 13");
    const serverOnly = await login(`bi-serveronly-${++n}`, 1);
    serverOnly.write(
      encodeSendack({ type: PacketType.SENDACK, messageId: 1, clientSeq: 1, messageSeq: 1, reasonCode: ReasonCode.Success }, 5),
    );
    await assertKicked(serverOnly, ReasonCode.NotSupportHeader, "SENDACK from a client");
    await stillChatting();
  });

  test("a body that does not parse gets PayloadDecodeError", async () => {
    const user = await login(`bi-body-${++n}`, 0);
    // SEND: setting, client_seq, then a string claiming 500 bytes inside a 9-byte body.
    user.write(Buffer.concat([sendHeader(9), Buffer.from([0, 0, 0, 0, 1, 0x01, 0xf4, 0x41, 0x41])]));
    await assertKicked(user, ReasonCode.PayloadDecodeError, "truncated string in a SEND body");
    await stillChatting();
  });

  test("bad CONNECTs: version 1, empty or junk client_key, an empty uid, a second CONNECT", async () => {
    const v1 = await stranger();
    v1.write(connectFrame({ uid: "bi-v1", version: 1 }, 2));
    await assertKicked(v1, ReasonCode.NotSupportHeader, "protocol version 1");

    const token = "tok-bi-keys";
    assert.equal((await sb.post("/user/token", { uid: "bi-keys", token, device_flag: 0 })).status, 200, "token set");
    const cases: [string, Partial<ConnectPacket>, number][] = [
      ["empty client_key", { clientKey: "" }, ReasonCode.ClientKeyIsEmpty],
      ["junk client_key", { clientKey: "not-a-key" }, ReasonCode.AuthFail],
      ["empty uid", { uid: "" }, ReasonCode.AuthFail],
      ["a uid with '@'", { uid: "bi@keys" }, ReasonCode.AuthFail],
      ["a 200-byte uid", { uid: "u".repeat(200) }, ReasonCode.AuthFail],
      ["a uid with a control character", { uid: "bi\u0007keys" }, ReasonCode.AuthFail],
      ["the reserved system uid", { uid: "____system" }, ReasonCode.AuthFail],
    ];
    for (const [what, fields, reason] of cases) {
      const c = await stranger(1);
      c.write(connectFrame({ uid: "bi-keys", token, ...fields }));
      const connack = await c.waitFor(`CONNACK for ${what}`, () => c.connack, 5_000, true);
      assert.equal(connack.reasonCode, reason, `${what}: CONNACK reason`);
      await c.ended();
      assert.ok(c.closed, `${what}: closed after the refusal`);
    }

    const v0 = pool(await Client.connect(addrs[0], { uid: "bi-keys", token, version: 0 }));
    assert.equal(v0.connack?.reasonCode, ReasonCode.Success, "version 0 means the latest");
    assert.equal(v0.connack?.serverVersion, 5, "version 0 negotiates 5");
    const v255 = pool(await Client.connect(addrs[1], { uid: "bi-keys", token, version: 255, deviceFlag: 0 }));
    assert.equal(v255.connack?.serverVersion, 5, "version 255 is capped at 5");
    // v255 replaced v0's binding (same uid and device): v0 is kicked.
    assert.equal((await v0.ended())?.reasonCode, ReasonCode.ConnectKick, "the newer login kicks the older");
    v255.write(connectFrame({ uid: "bi-keys", token }));
    await assertKicked(v255, ReasonCode.AuthFail, "a second CONNECT on one connection");
    await stillChatting();
  });

  function pool(c: Client): Client {
    extra.push(c);
    return c;
  }

  test("a SEND with a wrong msg_key or an undecryptable payload is refused and not delivered", async () => {
    const mallory = await login(`bi-mallory-${++n}`, 0);
    const forged = await mallory.send("bi-bob", Person, "forged", {
      tamper: (p) => {
        p.msgKey = p.msgKey.replace(/^./, (ch) => (ch === "a" ? "b" : "a"));
      },
    });
    assert.equal(forged.reasonCode, ReasonCode.MsgKeyError, "wrong msg_key: MsgKeyError");
    assert.equal(forged.messageId, 0, "no message_id for a refused SEND");
    // A payload swapped after msg_key was computed: the key no longer matches either.
    const swapped = await mallory.send("bi-bob", Person, "swapped", {
      tamper: (p) => {
        p.payload = Buffer.from("AAAA");
      },
    });
    assert.equal(swapped.reasonCode, ReasonCode.MsgKeyError, "payload swapped under the msg_key: MsgKeyError");
    // A valid msg_key over a payload that is not AES ciphertext in base64.
    for (const wire of ["AAAA", "not base64 at all!", ""]) {
      const ack = await mallory.send("bi-bob", Person, "undecryptable", { wirePayload: Buffer.from(wire) });
      assert.equal(ack.reasonCode, ReasonCode.PayloadDecodeError, `payload ${JSON.stringify(wire)}: PayloadDecodeError`);
    }
    await mallory.ping();
    assert.equal(mallory.closed, false, "per-message faults keep the connection open (as WuKongIM does)");
    await stillChatting();
    const leaked = bob.recvs.filter((r) => ["forged", "swapped"].includes(r.text) || !r.msgKeyOk || r.packet.fromUid === mallory.uid);
    assert.equal(leaked.length, 0, "nothing forged or undecryptable reached bob");
  });

  test("a SEND whose msg_key does not verify is refused and not delivered", async () => {
    const before = bob.recvs.length;
    const mallory = await login(`bi-flip-${++n}`, 1);
    // Break the msg_key after the client computed it: flip one hex digit of the 32.
    const ack = await mallory.send("bi-bob", Person, "flipped", {
      tamper: (p) => {
        p.msgKey = p.msgKey.replace(/^./, (ch) => (ch === "a" ? "b" : "a"));
      },
    });
    assert.equal(ack.reasonCode, ReasonCode.MsgKeyError);
    mallory.close();
    await stillChatting();
    assert.ok(!bob.recvs.slice(before).some((r) => r.text === "flipped"), "the forged message never reached bob");
  });

  test("a SEND to an invalid channel is refused with the channel's reason code", async () => {
    const user = await login(`bi-chan-${++n}`, 1);
    const cases: [string, string, number, number][] = [
      ["a person channel id with '@'", "bi-bob@evil", Person, ReasonCode.ChannelIDError],
      ["an empty person channel id", "", Person, ReasonCode.ChannelIDError],
      ["a group that does not exist", "bi-no-such-group", ChannelType.Group, ReasonCode.ChannelNotExist],
      ["an unsupported channel type", "bi-bob", ChannelType.Live, ReasonCode.NotSupportChannelType],
      ["channel type 0", "bi-bob", 0, ReasonCode.NotSupportChannelType],
    ];
    for (const [what, channelId, channelType, reason] of cases) {
      const ack = await user.send(channelId, channelType, `to ${what}`);
      assert.equal(ack.reasonCode, reason, `${what}: SENDACK reason`);
      assert.equal(ack.messageSeq, 0, `${what}: nothing stored`);
    }
    await user.ping();
    await stillChatting();
    assert.equal(bob.recvs.filter((r) => r.text.startsWith("to ")).length, 0, "no refused message reached bob");
  });

  test("a SEND with fields the store cannot keep is refused as malformed (not SystemError), the connection stays usable", async () => {
    const user = await login(`bi-fields-${++n}`, 0);
    const cases: [string, Parameters<Client["send"]>[3]][] = [
      ["a 2 KB client_msg_no", { clientMsgNo: "x".repeat(2048) }],
      ["a client_msg_no with NUL", { clientMsgNo: "a\u0000b" }],
      [
        "a topic with NUL",
        {
          tamper: (p) => {
            p.setting |= Setting.Topic;
            p.topic = "t\u0000t";
          },
        },
      ],
    ];
    for (const [what, opts] of cases) {
      const ack = await user.send("bi-bob", Person, `fields: ${what}`, opts);
      assert.equal(ack.reasonCode, ReasonCode.PayloadDecodeError, `${what}: SENDACK reason`);
    }
    const ok = await user.send("bi-bob", Person, "fields: fine", { clientMsgNo: "y".repeat(1000) });
    assert.equal(ok.reasonCode, ReasonCode.Success, "a 1000-byte client_msg_no is fine");
    await bob.waitRecv("fields: fine", (r) => r.text === "fields: fine");
    await stillChatting();
    assert.equal(bob.recvs.filter((r) => r.text.startsWith("fields: a")).length, 0, "refused SENDs were not delivered");
  });

  test(
    "a client that never completes a CONNECT is closed with AuthFail after the auth timeout",
    { timeout: AUTH_TIMEOUT_MS + 10_000 },
    async () => {
      assert.ok(AUTH_TIMEOUT_MS <= 5_000, `auth timeout is short enough to test (${AUTH_TIMEOUT_MS} ms)`);
      const silent = await stranger(0);
      // 'G' reads as a SENDACK header claiming a 69-byte body that never completes.
      const http = await stranger(1);
      http.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      const started = Date.now();
      const [a, b] = await Promise.all([silent.ended(AUTH_TIMEOUT_MS + 5_000), http.ended(AUTH_TIMEOUT_MS + 5_000)]);
      const waited = Date.now() - started;
      assert.equal(a?.reasonCode, ReasonCode.AuthFail, `silent client: ${JSON.stringify(a)}`);
      assert.equal(b?.reasonCode, ReasonCode.AuthFail, `half an HTTP request: ${JSON.stringify(b)}`);
      assert.ok(waited >= AUTH_TIMEOUT_MS - 1_500, `not closed before the timeout (${waited} ms)`);
      await stillChatting();
    },
  );
});
