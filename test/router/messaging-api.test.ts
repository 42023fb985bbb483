/**
 * WuKongIM's messaging HTTP API (user, message, channel, conversation) against a real server, one
 * scenario list run on SQLite and on PostgreSQL. Answers are checked whole: the exact WuKongIM
 * shapes on success, `{error, message}` (plus `reason` for refused sends) on failure, never a 500.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import type { ServeOptions } from "../../src/config/options.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";

// biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
type Json = any;
type Overrides = () => Partial<ServeOptions>;

const PERSON = 1;
const GROUP = 2;
// WuKongIM reason codes (frame/common.go) carried by refused sends.
const REASON = { SubscriberNotExist: 3, ChannelNotExist: 5, ChannelIDError: 16, NotSupportChannelType: 23, SendBan: 25 };

const b64 = (text: string) => Buffer.from(text).toString("base64");
const text = (payload: string) => Buffer.from(payload, "base64").toString();
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** An error answer: the status, `{error, message}` with a sentence, and the reason code when given. */
function assertError(res: { status: number; body: Json }, status: number, error: string, reason?: number): void {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body, "object", `error body is JSON: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.error, error, `error code in ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body.message, "string", "error message is a string");
  assert.ok(res.body.message.length > 0, "error message is not empty");
  const keys = Object.keys(res.body).sort();
  if (reason === undefined) assert.deepEqual(keys, ["error", "message"], "error body has exactly error and message");
  else {
    assert.deepEqual(keys, ["error", "message", "reason"], "refused send names its reason code");
    assert.equal(res.body.reason, reason, `reason code in ${JSON.stringify(res.body)}`);
  }
}

function assertOk(res: { status: number; body: Json }, what: string): void {
  assert.equal(res.status, 200, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
  assert.deepEqual(res.body, { status: 200 }, `${what} answers {status: 200}`);
}

/** A WuKongIM MessageResp as `viewer` sees it (person channels show the peer). */
function expectedMessage(
  m: Json,
  want: { from: string; channelId: string; channelType: number; seq: number; payload: string; clientMsgNo?: string; redDot?: 0 | 1 },
): Json {
  assert.equal(typeof m.message_id, "number", "message_id is a number");
  assert.ok(Number.isSafeInteger(m.message_id) && m.message_id > 0, `message_id ${m.message_id} is a positive safe integer`);
  assert.ok(Math.abs(m.timestamp - nowSeconds()) < 60, `timestamp ${m.timestamp} is unix seconds of now`);
  return {
    header: { no_persist: 0, red_dot: want.redDot ?? 1, sync_once: 0 },
    setting: 0,
    message_id: m.message_id,
    message_idstr: String(m.message_id),
    client_msg_no: want.clientMsgNo ?? m.client_msg_no,
    message_seq: want.seq,
    from_uid: want.from,
    channel_id: want.channelId,
    channel_type: want.channelType,
    expire: 0,
    timestamp: m.timestamp,
    payload: b64(want.payload),
  };
}

/** The scenarios, on a server started with `overrides()` (called once per server). */
function messagingApiScenarios(overrides: Overrides): void {
  let sb: TestServer;
  before(async () => {
    sb = await startTestServer(overrides());
  });
  after(async () => sb?.stop());

  const send = (from: string, channelId: string, channelType: number, payload: string, extra: Record<string, unknown> = {}) =>
    sb.post("/message/send", { from_uid: from, channel_id: channelId, channel_type: channelType, payload: b64(payload), ...extra });

  /** Sends and checks the exact answer; returns message_id and message_seq. */
  async function sendOk(from: string, channelId: string, channelType: number, payload: string, clientMsgNo: string, seq: number) {
    const res = await send(from, channelId, channelType, payload, { client_msg_no: clientMsgNo });
    assert.equal(res.status, 200, `send ${payload}: ${res.status} ${JSON.stringify(res.body)}`);
    const id = res.body.data?.message_id;
    assert.ok(Number.isSafeInteger(id) && id > 0, `message_id ${id} is a positive safe integer`);
    assert.deepEqual(res.body, {
      status: 200,
      data: { message_id: id, message_idstr: String(id), client_msg_no: clientMsgNo, message_seq: seq },
    });
    return { id: id as number, seq };
  }

  const messagesync = (body: Record<string, unknown>) => sb.post("/channel/messagesync", body);
  const seqsOf = (res: { body: Json }) => res.body.messages.map((m: Json) => m.message_seq);

  describe("POST /user/token", () => {
    test("stores a token: {status: 200}, and again with a new token for the same device", async () => {
      assertOk(await sb.post("/user/token", { uid: "tok_a", token: "t1", device_flag: 0, device_level: 1 }), "token");
      assertOk(await sb.post("/user/token", { uid: "tok_a", token: "t2", device_flag: 0, device_level: 1 }), "token update");
      assertOk(await sb.post("/user/token", { uid: "tok_a", token: "t3", device_flag: 1 }), "token for web");
      const stored = await sb.backends.store.getToken("tok_a", 0);
      assert.deepEqual(stored, { uid: "tok_a", deviceFlag: 0, token: "t2", deviceLevel: 1 });
    });

    for (const [name, body] of [
      ["missing uid", { token: "t" }],
      ["empty uid", { uid: "", token: "t" }],
      ["uid with '@'", { uid: "a@b", token: "t" }],
      ["the reserved system uid", { uid: "____system", token: "t" }],
      ["uid that is a number", { uid: 7, token: "t" }],
      ["missing token", { uid: "tok_b" }],
      ["device_flag as a string", { uid: "tok_b", token: "t", device_flag: "1" }],
      ["device_flag over 255", { uid: "tok_b", token: "t", device_flag: 256 }],
      ["negative device_flag", { uid: "tok_b", token: "t", device_flag: -1 }],
      ["fractional device_flag", { uid: "tok_b", token: "t", device_flag: 1.5 }],
      ["device_level 2", { uid: "tok_b", token: "t", device_level: 2 }],
    ] as const) {
      test(`400 for ${name}`, async () => {
        assertError(await sb.post("/user/token", body), 400, "bad_request");
      });
    }
  });

  describe("POST /message/send and /message/sendbatch", () => {
    test("a person message answers message_id, message_seq and client_msg_no; a retry gets the same ids", async () => {
      const first = await sendOk("ms_alice", "ms_bob", PERSON, "hello", "cmn-1", 1);
      const retry = await sendOk("ms_alice", "ms_bob", PERSON, "hello", "cmn-1", 1);
      assert.equal(retry.id, first.id, "retried client_msg_no gets the same message_id");
      const reply = await sendOk("ms_bob", "ms_alice", PERSON, "hi", "cmn-1", 2);
      assert.ok(reply.id > first.id, "message ids increase");
      const sync = await messagesync({ login_uid: "ms_bob", channel_id: "ms_alice", channel_type: PERSON });
      assert.deepEqual(seqsOf(sync), [1, 2], "the retry was not stored twice");
    });

    test("without client_msg_no one is made up; header flags are kept", async () => {
      const res = await send("ms_alice", "ms_carol", PERSON, "no-dot", { header: { red_dot: 0, no_persist: 0, sync_once: 0 } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.match(res.body.data.client_msg_no, /^[0-9a-f-]{36}$/, "generated client_msg_no is a uuid");
      assert.equal(res.body.data.message_seq, 1);
      const sync = await messagesync({ login_uid: "ms_carol", channel_id: "ms_alice", channel_type: PERSON });
      assert.deepEqual(sync.body.messages, [
        expectedMessage(sync.body.messages[0], {
          from: "ms_alice",
          channelId: "ms_alice",
          channelType: PERSON,
          seq: 1,
          payload: "no-dot",
          clientMsgNo: res.body.data.client_msg_no,
          redDot: 0,
        }),
      ]);
    });

    test("concurrent sends get distinct gap-free seqs; concurrent retries of one client_msg_no store it once", async () => {
      const sends = await Promise.all(
        Array.from({ length: 20 }, (_, i) => send("cc_a", "cc_b", PERSON, `c${i}`, { client_msg_no: `cc-${i}` })),
      );
      assert.ok(
        sends.every((r) => r.status === 200),
        `all concurrent sends stored: ${JSON.stringify(sends.filter((r) => r.status !== 200))}`,
      );
      assert.deepEqual(
        sends.map((r) => r.body.data.message_seq).sort((a: number, b: number) => a - b),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      const retries = await Promise.all(
        Array.from({ length: 8 }, () => send("cc_a", "cc_b", PERSON, "once", { client_msg_no: "cc-once" })),
      );
      assert.ok(
        retries.every((r) => r.status === 200),
        `all retries answered: ${JSON.stringify(retries.filter((r) => r.status !== 200))}`,
      );
      assert.equal(new Set(retries.map((r) => r.body.data.message_id)).size, 1, "one message_id for every retry");
      assert.deepEqual(
        retries.map((r) => r.body.data.message_seq),
        Array(8).fill(21),
      );
      const max = await sb.get("/channel/max_message_seq?channel_id=cc_a&channel_type=1&login_uid=cc_b");
      assert.deepEqual(max.body, { message_seq: 21 });
    });

    test("a send the store refuses (NUL, overlong client_msg_no) fails alone, not the sends stored with it", async () => {
      const long = "x".repeat(1025);
      const results = await Promise.all([
        ...Array.from({ length: 5 }, (_, i) => send("bb_a", "bb_b", PERSON, `ok${i}`, { client_msg_no: `bb-${i}` })),
        send("bb_a", "bb_b", PERSON, "nul", { client_msg_no: "bad\u0000no" }),
        send("bb_a", "bb_b", PERSON, "long", { client_msg_no: long }),
        send("bb_a", "bb_b", PERSON, "topic", { client_msg_no: "bb-topic", topic: "t\u0000" }),
      ]);
      for (const res of results.slice(5)) assertError(res, 400, "bad_request");
      assert.deepEqual(
        results
          .slice(0, 5)
          .map((r) => r.body.data?.message_seq)
          .sort(),
        [1, 2, 3, 4, 5],
        `the good sends were stored: ${JSON.stringify(results.slice(0, 5).map((r) => r.body))}`,
      );
    });

    for (const [path, body] of [
      ["/channel", { channel_id: "g\u0000", channel_type: GROUP }],
      ["/channel", { channel_id: "g".repeat(1025), channel_type: GROUP, subscribers: ["a"] }],
      ["/message/send", { from_uid: "a1", channel_id: "g".repeat(1025), channel_type: GROUP, payload: "aGk=" }],
      ["/channel/messagesync", { login_uid: "a1", channel_id: "g\u0000", channel_type: GROUP }],
      ["/conversations/clearUnread", { uid: "a1", channel_id: "g\u0000", channel_type: GROUP }],
      ["/user/token", { uid: "a1", token: "t\u0000" }],
    ] as const) {
      test(`${path} with a NUL or an overlong id is 400`, async () => {
        assertError(await sb.post(path, body), 400, "bad_request");
      });
    }

    test("max_message_seq with a NUL or an overlong channel_id is 400", async () => {
      assertError(await sb.get("/channel/max_message_seq?channel_id=g%00&channel_type=2"), 400, "bad_request");
      assertError(await sb.get(`/channel/max_message_seq?channel_id=${"g".repeat(1025)}&channel_type=2`), 400, "bad_request");
    });

    test("no_persist: answered with a message_id and seq 0, nothing stored", async () => {
      const res = await send("np_a", "np_b", PERSON, "typing...", { client_msg_no: "np-1", header: { no_persist: 1 } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const id = res.body.data.message_id;
      assert.ok(Number.isSafeInteger(id) && id > 0, `message_id ${id} is a positive safe integer`);
      assert.deepEqual(res.body, {
        status: 200,
        data: { message_id: id, message_idstr: String(id), client_msg_no: "np-1", message_seq: 0 },
      });
      const sync = await messagesync({ login_uid: "np_b", channel_id: "np_a", channel_type: PERSON });
      assert.deepEqual(sync.body.messages, [], "a no_persist message is not stored");
    });

    test("no from_uid sends as the system user, shown with its uid", async () => {
      const res = await send("", "ms_dave", PERSON, "from the system");
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const sync = await messagesync({ login_uid: "ms_dave", channel_id: "____system", channel_type: PERSON });
      assert.deepEqual(
        sync.body.messages.map((m: Json) => [m.from_uid, m.channel_id, text(m.payload)]),
        [["____system", "____system", "from the system"]],
      );
    });

    test("send with subscribers stores a person message to each, answering the first copy's ids", async () => {
      const res = await sb.post("/message/send", {
        from_uid: "ss_boss",
        subscribers: ["ss_u1", "ss_u2"],
        payload: b64("to both"),
        client_msg_no: "ss-1",
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const { message_id, message_idstr, client_msg_no, message_seq } = res.body.data;
      assert.deepEqual([message_idstr, client_msg_no, message_seq], [String(message_id), "ss-1", 1]);
      for (const uid of ["ss_u1", "ss_u2"]) {
        const sync = await messagesync({ login_uid: uid, channel_id: "ss_boss", channel_type: PERSON });
        assert.deepEqual(
          sync.body.messages.map((m: Json) => [m.client_msg_no, text(m.payload)]),
          [[`ss-1-${uid}`, "to both"]],
        );
      }
    });

    test("sendbatch sends one message to each person channel; bad uids come back in fail_uids with a reason", async () => {
      const res = await sb.post("/message/sendbatch", {
        from_uid: "sb_boss",
        subscribers: ["sb_u1", "sb_u2", "bad@uid"],
        payload: b64("all hands"),
        client_msg_no: "batch-1",
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, { status: 200, data: { fail_uids: ["bad@uid"], reason: [REASON.ChannelIDError] } });
      for (const uid of ["sb_u1", "sb_u2"]) {
        const sync = await messagesync({ login_uid: uid, channel_id: "sb_boss", channel_type: PERSON });
        assert.deepEqual(
          sync.body.messages.map((m: Json) => [m.message_seq, m.from_uid, m.channel_id, text(m.payload)]),
          [[1, "sb_boss", "sb_boss", "all hands"]],
          `${uid} got the batch message`,
        );
      }
      const again = await sb.post("/message/sendbatch", {
        from_uid: "sb_boss",
        subscribers: ["sb_u1"],
        payload: b64("all hands"),
        client_msg_no: "batch-1",
      });
      assert.deepEqual(again.body, { status: 200, data: { fail_uids: [], reason: [] } });
      const max = await sb.get("/channel/max_message_seq?channel_id=sb_boss&channel_type=1&login_uid=sb_u1");
      assert.deepEqual(max.body, { message_seq: 1 }, "a retried batch is not stored twice");
    });

    for (const [name, body, status, error, reason] of [
      ["a payload that is not base64", { from_uid: "a1", channel_id: "b1", channel_type: 1, payload: "not base64!" }, 400, "bad_request"],
      ["a payload that is a number", { from_uid: "a1", channel_id: "b1", channel_type: 1, payload: 5 }, 400, "bad_request"],
      ["no payload", { from_uid: "a1", channel_id: "b1", channel_type: 1 }, 400, "bad_request"],
      ["no channel", { from_uid: "a1", channel_type: 1, payload: "aGk=" }, 400, "bad_request"],
      ["no channel_type", { from_uid: "a1", channel_id: "b1", payload: "aGk=" }, 400, "bad_request"],
      ["channel_type as a string", { from_uid: "a1", channel_id: "b1", channel_type: "1", payload: "aGk=" }, 400, "bad_request"],
      ["channel_type 0", { from_uid: "a1", channel_id: "b1", channel_type: 0, payload: "aGk=" }, 400, "bad_request"],
      [
        "channel_type 3 (customer service)",
        { from_uid: "a1", channel_id: "b1", channel_type: 3, payload: "aGk=" },
        400,
        "send_rejected",
        REASON.NotSupportChannelType,
      ],
      ["a person channel_id with '@'", { from_uid: "a1", channel_id: "b@c", channel_type: 1, payload: "aGk=" }, 400, "bad_request"],
      ["from_uid with '@'", { from_uid: "a@1", channel_id: "b1", channel_type: 1, payload: "aGk=" }, 400, "bad_request"],
      ["header that is a string", { from_uid: "a1", channel_id: "b1", channel_type: 1, payload: "aGk=", header: "x" }, 400, "bad_request"],
      [
        "header flag that is a word",
        { from_uid: "a1", channel_id: "b1", channel_type: 1, payload: "aGk=", header: { red_dot: "yes" } },
        400,
        "bad_request",
      ],
      [
        "client_msg_no as a number",
        { from_uid: "a1", channel_id: "b1", channel_type: 1, payload: "aGk=", client_msg_no: 1 },
        400,
        "bad_request",
      ],
      ["channel_id and subscribers", { from_uid: "a1", channel_id: "b1", subscribers: ["c1"], payload: "aGk=" }, 400, "bad_request"],
      ["a group that does not exist", { from_uid: "a1", channel_id: "nogroup", channel_type: 2, payload: "aGk=" }, 404, "send_rejected", 5],
    ] as const) {
      test(`/message/send: ${name} is ${status}`, async () => {
        assertError(await sb.post("/message/send", body), status, error, reason);
      });
    }

    for (const [name, body] of [
      ["no subscribers", { from_uid: "a1", payload: "aGk=" }],
      ["subscribers as a string", { from_uid: "a1", subscribers: "b1", payload: "aGk=" }],
      ["a number among subscribers", { from_uid: "a1", subscribers: ["b1", 2], payload: "aGk=" }],
      ["bad base64", { from_uid: "a1", subscribers: ["b1"], payload: "%%%" }],
      ["too many subscribers", { from_uid: "a1", subscribers: Array.from({ length: 1001 }, (_, i) => `u${i}`), payload: "aGk=" }],
    ] as const) {
      test(`/message/sendbatch: ${name} is 400`, async () => {
        assertError(await sb.post("/message/sendbatch", body), 400, "bad_request");
      });
    }
  });

  describe("groups: /channel, subscribers, info, delete", () => {
    test("create with subscribers: members send, others are refused with reason 3", async () => {
      assertOk(await sb.post("/channel", { channel_id: "g1", channel_type: GROUP, subscribers: ["g_ann", "g_ben"] }), "create");
      await sendOk("g_ann", "g1", GROUP, "first", "g1-1", 1);
      await sendOk("g_ben", "g1", GROUP, "second", "g1-2", 2);
      assertError(await send("g_cat", "g1", GROUP, "let me in"), 403, "send_rejected", REASON.SubscriberNotExist);
      assertError(await messagesync({ login_uid: "g_cat", channel_id: "g1", channel_type: GROUP }), 403, "forbidden");
    });

    test("subscriber_add lets a user send and read; subscriber_remove stops them", async () => {
      assertOk(await sb.post("/channel/subscriber_add", { channel_id: "g1", channel_type: GROUP, subscribers: ["g_cat"] }), "add");
      await sendOk("g_cat", "g1", GROUP, "thanks", "g1-3", 3);
      const sync = await messagesync({ login_uid: "g_cat", channel_id: "g1", channel_type: GROUP });
      assert.deepEqual(
        sync.body.messages.map((m: Json) => [m.message_seq, m.from_uid, m.channel_id, m.channel_type, text(m.payload)]),
        [
          [1, "g_ann", "g1", GROUP, "first"],
          [2, "g_ben", "g1", GROUP, "second"],
          [3, "g_cat", "g1", GROUP, "thanks"],
        ],
      );
      assertOk(await sb.post("/channel/subscriber_remove", { channel_id: "g1", channel_type: GROUP, subscribers: ["g_ben"] }), "remove");
      assertError(await send("g_ben", "g1", GROUP, "still here?"), 403, "send_rejected", REASON.SubscriberNotExist);
      assertError(await messagesync({ login_uid: "g_ben", channel_id: "g1", channel_type: GROUP }), 403, "forbidden");
      await sendOk("g_ann", "g1", GROUP, "bye ben", "g1-4", 4);
    });

    test("update: POST /channel with reset replaces the members; send_ban stops members but not the system", async () => {
      assertOk(
        await sb.post("/channel", { channel_id: "g1", channel_type: GROUP, reset: 1, subscribers: ["g_ann", "g_dan"] }),
        "update with reset",
      );
      assertError(await send("g_cat", "g1", GROUP, "me?"), 403, "send_rejected", REASON.SubscriberNotExist);
      await sendOk("g_dan", "g1", GROUP, "new here", "g1-5", 5);
      assertOk(await sb.post("/channel/info", { channel_id: "g1", channel_type: GROUP, send_ban: 1 }), "info send_ban");
      assertError(await send("g_ann", "g1", GROUP, "muted"), 403, "send_rejected", REASON.SendBan);
      const system = await send("", "g1", GROUP, "announcement");
      assert.equal(system.status, 200, `the system still sends: ${JSON.stringify(system.body)}`);
      assert.equal(system.body.data.message_seq, 6);
      assertOk(await sb.post("/channel/info", { channel_id: "g1", channel_type: GROUP, send_ban: 0 }), "info lifts send_ban");
      await sendOk("g_ann", "g1", GROUP, "unmuted", "g1-7", 7);
      const max = await sb.get("/channel/max_message_seq?channel_id=g1&channel_type=2&login_uid=g_dan");
      assert.deepEqual(max.body, { message_seq: 7 });
    });

    test("delete: sending and adding members then fail, the members can no longer read", async () => {
      assertOk(await sb.post("/channel/delete", { channel_id: "g1", channel_type: GROUP }), "delete");
      assertError(await send("g_ann", "g1", GROUP, "anyone?"), 404, "send_rejected", REASON.ChannelNotExist);
      assertError(
        await sb.post("/channel/subscriber_add", { channel_id: "g1", channel_type: GROUP, subscribers: ["g_ann"] }),
        404,
        "not_found",
      );
      assertError(await messagesync({ login_uid: "g_ann", channel_id: "g1", channel_type: GROUP }), 403, "forbidden");
      const convs = await sb.post("/conversation/sync", { uid: "g_ann", version: 0, msg_count: 0 });
      assert.deepEqual(convs.body, [], "the deleted group leaves the members' conversation lists");
    });

    for (const [path, body] of [
      ["/channel", { channel_id: "p1", channel_type: PERSON, subscribers: ["a"] }],
      ["/channel", { channel_id: "g2", channel_type: GROUP, subscribers: ["ok", ""] }],
      ["/channel", { channel_id: "g2", channel_type: GROUP, subscribers: ["a@b"] }],
      ["/channel", { channel_id: "g2", channel_type: GROUP, subscribers: "a" }],
      ["/channel", { channel_id: "g2", channel_type: GROUP, ban: "yes" }],
      ["/channel", { channel_type: GROUP }],
      ["/channel/info", { channel_id: "g2", channel_type: "2" }],
      ["/channel/delete", { channel_id: "", channel_type: GROUP }],
      ["/channel/subscriber_add", { channel_id: "g2", channel_type: GROUP, subscribers: [5] }],
      ["/channel/subscriber_remove", { channel_id: "g2", channel_type: 1.5, subscribers: ["a"] }],
    ] as const) {
      test(`${path} ${JSON.stringify(body)} is 400`, async () => {
        assertError(await sb.post(path, body), 400, "bad_request");
      });
    }
  });

  describe("POST /channel/messagesync and GET /channel/max_message_seq", () => {
    before(async () => {
      for (let i = 1; i <= 10; i++) await sendOk(i % 2 ? "sy_a" : "sy_b", i % 2 ? "sy_b" : "sy_a", PERSON, `m${i}`, `sy-${i}`, i);
    });

    test("both seqs 0: the latest `limit`, ascending, full MessageResp, seen from the reader", async () => {
      const res = await messagesync({ login_uid: "sy_a", channel_id: "sy_b", channel_type: PERSON, limit: 3 });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const want = [8, 9, 10].map((seq, i) =>
        expectedMessage(res.body.messages[i], {
          from: seq % 2 ? "sy_a" : "sy_b",
          channelId: "sy_b",
          channelType: PERSON,
          seq,
          payload: `m${seq}`,
          clientMsgNo: `sy-${seq}`,
        }),
      );
      assert.deepEqual(res.body, { start_message_seq: 0, end_message_seq: 0, more: 1, messages: want });
    });

    test("the same person channel read by the other user shows the peer as channel_id", async () => {
      const fromA = await messagesync({ login_uid: "sy_a", channel_id: "sy_b", channel_type: PERSON, limit: 20 });
      const fromB = await messagesync({ login_uid: "sy_b", channel_id: "sy_a", channel_type: PERSON, limit: 20 });
      assert.deepEqual(seqsOf(fromA), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.equal(fromA.body.more, 0, "all ten fit in 20");
      assert.deepEqual(
        fromB.body.messages.map((m: Json) => m.message_id),
        fromA.body.messages.map((m: Json) => m.message_id),
        "one channel for both users",
      );
      assert.ok(
        fromA.body.messages.every((m: Json) => m.channel_id === "sy_b"),
        "sy_a sees channel sy_b",
      );
      assert.ok(
        fromB.body.messages.every((m: Json) => m.channel_id === "sy_a"),
        "sy_b sees channel sy_a",
      );
    });

    for (const [name, query, seqs, more] of [
      ["pull_mode 0 from 7 down to 2 (exclusive)", { start_message_seq: 7, end_message_seq: 2, pull_mode: 0 }, [3, 4, 5, 6, 7], 0],
      [
        "pull_mode 0 from 7 with limit 2 takes the nearest",
        { start_message_seq: 7, end_message_seq: 0, pull_mode: 0, limit: 2 },
        [6, 7],
        1,
      ],
      ["pull_mode 0 from 2", { start_message_seq: 2, pull_mode: 0 }, [1, 2], 0],
      ["pull_mode 1 from 3 up to 7 (exclusive)", { start_message_seq: 3, end_message_seq: 7, pull_mode: 1 }, [3, 4, 5, 6], 0],
      ["pull_mode 1 from 3 with limit 2", { start_message_seq: 3, end_message_seq: 7, pull_mode: 1, limit: 2 }, [3, 4], 1],
      ["pull_mode 1 from 9 to the end", { start_message_seq: 9, pull_mode: 1 }, [9, 10], 0],
      ["pull_mode 1 past the end", { start_message_seq: 11, pull_mode: 1 }, [], 0],
      ["pull_mode 1 from the largest seq", { start_message_seq: Number.MAX_SAFE_INTEGER, pull_mode: 1 }, [], 0],
      ["pull_mode 0 from the largest seq", { start_message_seq: Number.MAX_SAFE_INTEGER, pull_mode: 0, limit: 1 }, [10], 1],
    ] as const) {
      test(`${name}: seqs ${JSON.stringify(seqs)}, more ${more}`, async () => {
        const res = await messagesync({ login_uid: "sy_b", channel_id: "sy_a", channel_type: PERSON, ...query });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(seqsOf(res), seqs);
        assert.equal(res.body.more, more);
        assert.equal(res.body.start_message_seq, query.start_message_seq);
        assert.equal(res.body.end_message_seq, "end_message_seq" in query ? query.end_message_seq : 0);
        assert.deepEqual(
          res.body.messages.map((m: Json) => text(m.payload)),
          seqs.map((s) => `m${s}`),
        );
      });
    }

    test("a person channel nobody wrote in is empty", async () => {
      const res = await messagesync({ login_uid: "sy_a", channel_id: "sy_nobody", channel_type: PERSON });
      assert.deepEqual(res.body, { start_message_seq: 0, end_message_seq: 0, more: 0, messages: [] });
    });

    test("max_message_seq from either user, and 0 for an empty channel", async () => {
      for (const [login, peer] of [
        ["sy_a", "sy_b"],
        ["sy_b", "sy_a"],
      ]) {
        const res = await sb.get(`/channel/max_message_seq?channel_id=${peer}&channel_type=1&login_uid=${login}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(res.body, { message_seq: 10 });
      }
      const empty = await sb.get("/channel/max_message_seq?channel_id=sy_nobody&channel_type=1&login_uid=sy_a");
      assert.deepEqual(empty.body, { message_seq: 0 });
    });

    for (const query of [
      "channel_id=sy_b&channel_type=1",
      "channel_type=1&login_uid=sy_a",
      "channel_id=sy_b&login_uid=sy_a",
      "channel_id=sy_b&channel_type=abc&login_uid=sy_a",
      "channel_id=sy_b&channel_type=1.5&login_uid=sy_a",
      "channel_id=sy_b&channel_type=0&login_uid=sy_a",
      "channel_id=sy_b&channel_type=256&login_uid=sy_a",
      "channel_id=sy_b&channel_type=1&login_uid=a@b",
      "channel_id=b@c&channel_type=1&login_uid=sy_a",
    ]) {
      test(`max_message_seq?${query} is 400`, async () => {
        assertError(await sb.get(`/channel/max_message_seq?${query}`), 400, "bad_request");
      });
    }

    for (const [name, body] of [
      ["no login_uid", { channel_id: "sy_b", channel_type: 1 }],
      ["login_uid with '@'", { login_uid: "x@y", channel_id: "sy_b", channel_type: 1 }],
      ["a person channel_id with '@'", { login_uid: "sy_a", channel_id: "x@y", channel_type: 1 }],
      ["limit 10001", { login_uid: "sy_a", channel_id: "sy_b", channel_type: 1, limit: 10_001 }],
      ["a huge limit", { login_uid: "sy_a", channel_id: "sy_b", channel_type: 1, limit: 1e300 }],
      ["limit 0", { login_uid: "sy_a", channel_id: "sy_b", channel_type: 1, limit: 0 }],
      ["limit as a string", { login_uid: "sy_a", channel_id: "sy_b", channel_type: 1, limit: "5" }],
      ["a negative start", { login_uid: "sy_a", channel_id: "sy_b", channel_type: 1, start_message_seq: -1 }],
      ["a start past 2^53", { login_uid: "sy_a", channel_id: "sy_b", channel_type: 1, start_message_seq: 2 ** 60 }],
      ["a fractional end", { login_uid: "sy_a", channel_id: "sy_b", channel_type: 1, end_message_seq: 2.5 }],
      ["pull_mode 2", { login_uid: "sy_a", channel_id: "sy_b", channel_type: 1, pull_mode: 2 }],
    ] as const) {
      test(`messagesync with ${name} is 400`, async () => {
        assertError(await messagesync(body), 400, "bad_request");
      });
    }
  });

  describe("POST /conversation/sync and /conversations/*", () => {
    let version = 0;

    before(async () => {
      assertOk(await sb.post("/channel", { channel_id: "cv_g", channel_type: GROUP, subscribers: ["cv_a", "cv_b", "cv_c"] }), "group");
      for (let i = 1; i <= 3; i++) await sendOk("cv_a", "cv_b", PERSON, `p${i}`, `cv-p${i}`, i);
      for (let i = 1; i <= 2; i++) await sendOk("cv_c", "cv_g", GROUP, `g${i}`, `cv-g${i}`, i);
    });

    const sync = async (body: Record<string, unknown>) => {
      const res = await sb.post("/conversation/sync", body);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.ok(Array.isArray(res.body), "conversation/sync answers a bare array");
      return res.body as Json[];
    };

    test("the receiver sees both conversations, newest first, with unread counts, last message and recents", async () => {
      const convs = await sync({ uid: "cv_b", version: 0, msg_count: 2 });
      assert.deepEqual(
        convs.map((c) => [c.channel_id, c.channel_type]),
        [
          ["cv_g", GROUP],
          ["cv_a", PERSON],
        ],
      );
      const [group, person] = convs;
      for (const c of convs) {
        assert.ok(Number.isSafeInteger(c.version) && c.version > 0, `version ${c.version} is a positive integer`);
        assert.ok(Math.abs(c.timestamp - nowSeconds()) < 60, `timestamp ${c.timestamp} is unix seconds of now`);
      }
      assert.ok(group.version > person.version, "the newer conversation has the larger version");
      assert.deepEqual(person, {
        channel_id: "cv_a",
        channel_type: PERSON,
        unread: 3,
        timestamp: person.timestamp,
        last_msg_seq: 3,
        last_client_msg_no: "cv-p3",
        offset_msg_seq: 0,
        readed_to_msg_seq: 0,
        version: person.version,
        recents: [2, 3].map((seq, i) =>
          expectedMessage(person.recents[i], {
            from: "cv_a",
            channelId: "cv_a",
            channelType: PERSON,
            seq,
            payload: `p${seq}`,
            clientMsgNo: `cv-p${seq}`,
          }),
        ),
      });
      assert.deepEqual(group, {
        channel_id: "cv_g",
        channel_type: GROUP,
        unread: 2,
        timestamp: group.timestamp,
        last_msg_seq: 2,
        last_client_msg_no: "cv-g2",
        offset_msg_seq: 0,
        readed_to_msg_seq: 0,
        version: group.version,
        recents: [1, 2].map((seq, i) =>
          expectedMessage(group.recents[i], {
            from: "cv_c",
            channelId: "cv_g",
            channelType: GROUP,
            seq,
            payload: `g${seq}`,
            clientMsgNo: `cv-g${seq}`,
          }),
        ),
      });
      version = group.version;
    });

    test("the sender has nothing unread in what they sent; msg_count 0 gives no recents", async () => {
      const convs = await sync({ uid: "cv_a", version: 0, msg_count: 0 });
      assert.deepEqual(
        convs.map((c) => [c.channel_id, c.unread, c.readed_to_msg_seq, c.last_msg_seq, c.recents]),
        [
          ["cv_g", 2, 0, 2, []],
          ["cv_b", 0, 3, 3, []],
        ],
      );
      const sender = await sync({ uid: "cv_c", version: 0, msg_count: 1 });
      assert.deepEqual(
        sender.map((c) => [c.channel_id, c.unread, c.readed_to_msg_seq, c.recents.map((m: Json) => m.message_seq)]),
        [["cv_g", 0, 2, [2]]],
      );
    });

    test("version and last_msg_seqs skip what the client already has", async () => {
      assert.deepEqual(await sync({ uid: "cv_b", version, msg_count: 1 }), [], "nothing changed after the newest version");
      await sendOk("cv_a", "cv_b", PERSON, "p4", "cv-p4", 4);
      const changed = await sync({ uid: "cv_b", version, msg_count: 5 });
      assert.deepEqual(
        changed.map((c) => [c.channel_id, c.unread, c.last_msg_seq]),
        [["cv_a", 4, 4]],
      );
      const known = await sync({ uid: "cv_b", version: 0, msg_count: 5, last_msg_seqs: "cv_a:1:2|cv_g:2:2" });
      assert.deepEqual(
        known.map((c) => [c.channel_id, c.recents.map((m: Json) => m.message_seq)]),
        [["cv_a", [3, 4]]],
        "the group is skipped (client has seq 2) and person recents start after seq 2",
      );
    });

    test("clearUnread and setUnread move the read position; delete hides the conversation until a new message", async () => {
      const person = (convs: Json[]) => convs.find((c) => c.channel_id === "cv_a" && c.channel_type === PERSON);
      assertOk(
        await sb.post("/conversations/clearUnread", { uid: "cv_b", channel_id: "cv_a", channel_type: PERSON, message_seq: 2 }),
        "clear to 2",
      );
      let c = person(await sync({ uid: "cv_b", version: 0, msg_count: 0 }));
      assert.deepEqual([c.unread, c.readed_to_msg_seq], [2, 2]);
      assertOk(await sb.post("/conversations/clearUnread", { uid: "cv_b", channel_id: "cv_a", channel_type: PERSON }), "clear all");
      c = person(await sync({ uid: "cv_b", version: 0, msg_count: 0 }));
      assert.deepEqual([c.unread, c.readed_to_msg_seq], [0, 4]);
      const cleared = c.version;
      assertOk(
        await sb.post("/conversations/setUnread", { uid: "cv_b", channel_id: "cv_a", channel_type: PERSON, unread: 1 }),
        "set unread",
      );
      c = person(await sync({ uid: "cv_b", version: 0, msg_count: 0 }));
      assert.deepEqual([c.unread, c.readed_to_msg_seq], [1, 3]);
      assert.ok(c.version > cleared, "a read-state change bumps the version");
      const onlyUnread = await sync({ uid: "cv_b", version: 0, msg_count: 0, only_unread: 1 });
      assert.deepEqual(
        onlyUnread.map((x) => x.channel_id),
        ["cv_a", "cv_g"],
        "only_unread keeps both (group still has 2 unread)",
      );
      const noGroups = await sync({ uid: "cv_b", version: 0, msg_count: 0, exclude_channel_types: [GROUP] });
      assert.deepEqual(
        noGroups.map((x) => x.channel_id),
        ["cv_a"],
      );

      assertOk(await sb.post("/conversations/delete", { uid: "cv_b", channel_id: "cv_a", channel_type: PERSON }), "delete");
      assert.deepEqual(
        (await sync({ uid: "cv_b", version: 0, msg_count: 0 })).map((x) => x.channel_id),
        ["cv_g"],
        "the deleted conversation is gone for cv_b",
      );
      assert.deepEqual(
        (await sync({ uid: "cv_a", version: 0, msg_count: 0 })).map((x) => x.channel_id),
        ["cv_b", "cv_g"],
        "but stays for cv_a",
      );
      await sendOk("cv_a", "cv_b", PERSON, "p5", "cv-p5", 5);
      c = person(await sync({ uid: "cv_b", version: 0, msg_count: 1 }));
      assert.deepEqual(
        [c.unread, c.last_msg_seq, c.recents.map((m: Json) => text(m.payload))],
        [1, 5, ["p5"]],
        "a new message brings it back with only the new message unread",
      );
    });

    test("the read-state endpoints accept a conversation that does not exist", async () => {
      assertOk(await sb.post("/conversations/clearUnread", { uid: "cv_z", channel_id: "cv_y", channel_type: PERSON }), "clear");
      assertOk(await sb.post("/conversations/setUnread", { uid: "cv_z", channel_id: "cv_y", channel_type: PERSON, unread: 0 }), "set");
      assertOk(await sb.post("/conversations/delete", { uid: "cv_z", channel_id: "nogroup", channel_type: GROUP }), "delete");
      assert.deepEqual(await sync({ uid: "cv_z", version: 0 }), []);
    });

    for (const [path, body] of [
      ["/conversation/sync", { version: 0 }],
      ["/conversation/sync", { uid: "a@b" }],
      ["/conversation/sync", { uid: "cv_b", version: "0" }],
      ["/conversation/sync", { uid: "cv_b", version: -1 }],
      ["/conversation/sync", { uid: "cv_b", msg_count: 101 }],
      ["/conversation/sync", { uid: "cv_b", msg_count: 1e12 }],
      ["/conversation/sync", { uid: "cv_b", limit: 1e9 }],
      ["/conversation/sync", { uid: "cv_b", exclude_channel_types: "2" }],
      ["/conversation/sync", { uid: "cv_b", exclude_channel_types: [2.5] }],
      ["/conversation/sync", { uid: "cv_b", last_msg_seqs: "nonsense" }],
      ["/conversation/sync", { uid: "cv_b", last_msg_seqs: "cv_a:1:x" }],
      ["/conversation/sync", { uid: "cv_b", last_msg_seqs: 5 }],
      ["/conversation/sync", { uid: "cv_b", only_unread: "yes" }],
      ["/conversations/clearUnread", { uid: "cv_b", channel_type: PERSON }],
      ["/conversations/clearUnread", { uid: "cv_b", channel_id: "cv_a", channel_type: PERSON, message_seq: -3 }],
      ["/conversations/clearUnread", { uid: "cv_b", channel_id: "x@y", channel_type: PERSON }],
      ["/conversations/setUnread", { uid: "cv_b", channel_id: "cv_a", channel_type: PERSON }],
      ["/conversations/setUnread", { uid: "cv_b", channel_id: "cv_a", channel_type: PERSON, unread: -1 }],
      ["/conversations/setUnread", { uid: "cv_b", channel_id: "cv_a", channel_type: PERSON, unread: "2" }],
      ["/conversations/delete", { uid: 5, channel_id: "cv_a", channel_type: PERSON }],
      ["/conversations/delete", { uid: "cv_b", channel_id: "cv_a", channel_type: 0 }],
    ] as const) {
      test(`${path} ${JSON.stringify(body)} is 400`, async () => {
        assertError(await sb.post(path, body), 400, "bad_request");
      });
    }
  });

  describe("bad bodies on every endpoint: 400 with {error, message}, never 500", () => {
    const endpoints = [
      "/user/token",
      "/user/device_quit",
      "/message/send",
      "/message/sendbatch",
      "/channel",
      "/channel/info",
      "/channel/delete",
      "/channel/subscriber_add",
      "/channel/subscriber_remove",
      "/channel/messagesync",
      "/conversation/sync",
      "/conversations/clearUnread",
      "/conversations/setUnread",
      "/conversations/delete",
    ];
    const bodies: [string, string][] = [
      ["not JSON", "{nope"],
      ["an empty body", ""],
      ["a JSON array", JSON.stringify([{ uid: "a" }])],
      ["JSON null", "null"],
      ["a JSON number", "42"],
      ["a JSON string", '"uid"'],
      ["truncated JSON", '{"uid": "a", "token": '],
      ["an empty object", "{}"],
    ];
    for (const path of endpoints) {
      test(`${path}`, async () => {
        for (const [name, raw] of bodies) {
          const res = await sb.post(path, raw);
          assert.notEqual(res.status, 500, `${path} with ${name} is not a 500`);
          assertError(res, 400, "bad_request");
        }
      });
    }

    test("/user/onlinestatus wants an array of uids", async () => {
      for (const raw of ["{nope", "{}", '["a", 5]', '["a@b"]', "null"])
        assertError(await sb.post("/user/onlinestatus", raw), 400, "bad_request");
      const ok = await sb.post("/user/onlinestatus", ["nobody_online"]);
      assert.deepEqual([ok.status, ok.body], [200, []]);
    });
  });

  describe("API key", () => {
    const KEY = "test-api-key";
    let keyed: TestServer;
    before(async () => {
      keyed = await startTestServer({ ...overrides(), apiKey: KEY });
    });
    after(async () => keyed?.stop());

    const calls: [string, string, unknown][] = [
      ["POST", "/user/token", { uid: "key_a", token: "t" }],
      ["POST", "/message/send", { from_uid: "key_a", channel_id: "key_b", channel_type: PERSON, payload: b64("hi") }],
      ["POST", "/message/sendbatch", { from_uid: "key_a", subscribers: ["key_b"], payload: b64("hi") }],
      ["POST", "/channel", { channel_id: "key_g", channel_type: GROUP, subscribers: ["key_a"] }],
      ["POST", "/channel/info", { channel_id: "key_g", channel_type: GROUP }],
      ["POST", "/channel/subscriber_add", { channel_id: "key_g", channel_type: GROUP, subscribers: ["key_b"] }],
      ["POST", "/channel/subscriber_remove", { channel_id: "key_g", channel_type: GROUP, subscribers: ["key_b"] }],
      ["POST", "/channel/messagesync", { login_uid: "key_a", channel_id: "key_b", channel_type: PERSON }],
      ["GET", "/channel/max_message_seq?channel_id=key_b&channel_type=1&login_uid=key_a", undefined],
      ["POST", "/conversation/sync", { uid: "key_a", version: 0 }],
      ["POST", "/conversations/clearUnread", { uid: "key_a", channel_id: "key_b", channel_type: PERSON }],
      ["POST", "/user/onlinestatus", ["key_a"]],
      ["POST", "/channel/delete", { channel_id: "key_g", channel_type: GROUP }],
    ];
    const call = (method: string, path: string, body: unknown, headers?: Record<string, string>) =>
      method === "GET" ? keyed.get(path, headers) : keyed.post(path, body, headers);

    test("protected endpoints answer 401 without the key or with a wrong one, and do nothing", async () => {
      for (const [method, path, body] of calls) {
        assertError(await call(method, path, body), 401, "unauthorized");
        assertError(await call(method, path, body, { token: "wrong" }), 401, "unauthorized");
        assertError(await call(method, path, body, { authorization: `Bearer ${KEY}x` }), 401, "unauthorized");
      }
      assert.equal(await keyed.backends.store.getToken("key_a", 0), undefined, "no token was stored");
      assert.equal(await keyed.backends.store.maxSeq("key_a@key_b", PERSON), 0, "no message was stored");
    });

    test("the same calls answer 200 with `token: KEY`, then with `Authorization: Bearer KEY`", async () => {
      for (const headers of [{ token: KEY }, { authorization: `Bearer ${KEY}` }] as Record<string, string>[]) {
        for (const [method, path, body] of calls) {
          const res = await call(method, path, body, headers);
          assert.equal(res.status, 200, `${method} ${path} with ${JSON.stringify(headers)}: ${res.status} ${JSON.stringify(res.body)}`);
        }
      }
      const max = await keyed.get("/channel/max_message_seq?channel_id=key_b&channel_type=1&login_uid=key_a", { token: KEY });
      assert.deepEqual(max.body, { message_seq: 4 }, "two sends and two batch sends were stored");
    });

    test("the route API, /health and /nodes stay open", async () => {
      const one = await keyed.get("/route?uid=key_a");
      assert.equal(one.status, 200, JSON.stringify(one.body));
      assert.match(one.body.tcp_addr, /^127\.0\.0\.1:\d+$/);
      const batch = await keyed.post("/route/batch", ["key_a", "key_b"]);
      assert.equal(batch.status, 200, JSON.stringify(batch.body));
      assert.deepEqual(batch.body.flatMap((g: Json) => g.uids).sort(), ["key_a", "key_b"]);
      assert.equal((await keyed.get("/health")).status, 200, "/health is open");
      assert.equal((await keyed.get("/nodes")).status, 200, "/nodes is open");
    });

    test("bad input is still a 400 once the key is right, and unknown paths are 404", async () => {
      assertError(await keyed.post("/message/send", "{nope", { token: KEY }), 400, "bad_request");
      assertError(await keyed.get("/no/such/thing", { token: KEY }), 404, "not_found");
    });
  });
}

describe("messaging API on SQLite", () => {
  messagingApiScenarios(() => ({}));
});

const skipPostgres = await skipUnless("postgres");

describe("messaging API on PostgreSQL", { skip: skipPostgres }, () => {
  const schemas: string[] = [];
  messagingApiScenarios(() => {
    const clusterName = uniqueName("t").toLowerCase();
    schemas.push(clusterName);
    return { postgresUrl: serviceUrls.postgres, clusterName };
  });
  // Registered after the scenarios' hooks, so it runs once their servers have stopped.
  after(async () => {
    if (schemas.length === 0) return;
    const admin = new pg.Pool({ connectionString: serviceUrls.postgres, max: 1 });
    try {
      for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await admin.end();
    }
  });
});
