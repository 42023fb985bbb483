/** CIM's router endpoints on SQLite and PostgreSQL, with CIM's field names, envelope and codes. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import WebSocket from "ws";
import type { ClientMessage } from "../../src/client/client.js";
import { SwitchboardClient } from "../../src/client/node.js";
import type { WebSocketConstructor } from "../../src/client/transport.js";
import type { ServeOptions } from "../../src/config/options.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";
import { until } from "../helpers/wait.js";

const KEY = "cim-test-api-key";
const h = { token: KEY };

function cimScenarios(overrides: () => Partial<ServeOptions>): void {
  let sb: TestServer;
  const clients: SwitchboardClient[] = [];
  before(async () => {
    sb = await startTestServer({ ...overrides(), apiKey: KEY });
  });
  after(async () => {
    for (const c of clients) c.close();
    await sb?.stop();
  });
  const cim = async (path: string, body: unknown) => sb.post(path, body, h);

  test("a wrong method on a CIM path is 405 with Allow, in CIM's envelope", async () => {
    const res = await fetch(`${sb.apiUrl}/login`, { headers: h });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "POST");
    const body = await res.json();
    assert.equal(typeof body.code, "string");
    assert.match(body.message, /GET is not allowed on \/login/);
    assert.equal(body.dataBody, null);
  });
  const register = async (userName: string) => {
    const res = await cim("/registerAccount", { reqNo: "r1", timeStamp: 1, userName });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.dataBody.userId as number;
  };
  /** Logs in through /login and connects with the token it hands out; collects what arrives. */
  const connect = async (id: number, userName: string, deviceFlag = 0) => {
    const login = await cim("/login", { reqNo: `login-${id}`, timeStamp: Date.now(), userId: id, userName, deviceFlag });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const client = new SwitchboardClient({
      apiUrl: sb.apiUrl,
      uid: String(id),
      token: login.body.dataBody.token,
      deviceFlag,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    clients.push(client);
    const got: ClientMessage[] = [];
    client.on("message", (m) => got.push(m));
    await client.connect();
    return { client, got, login: login.body.dataBody };
  };

  test("registerAccount gives a name one id, in CIM's envelope", async () => {
    const res = await cim("/registerAccount", { reqNo: "req-7", timeStamp: 1700000000, userName: "zhangsan" });
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body).sort(), ["code", "dataBody", "message", "reqNo"]);
    assert.equal(res.body.code, "9000");
    assert.equal(res.body.reqNo, "req-7");
    assert.equal(typeof res.body.dataBody.userId, "number");
    assert.equal(res.body.dataBody.userName, "zhangsan");
    const again = await cim("/registerAccount", { reqNo: "req-8", userName: "zhangsan" });
    assert.equal(again.body.dataBody.userId, res.body.dataBody.userId, "idempotent per name");
    assert.equal(again.body.reqNo, "req-8");
    const other = await cim("/registerAccount", { userName: "zhangsan2" });
    assert.notEqual(other.body.dataBody.userId, res.body.dataBody.userId, "another name, another id");
    assert.equal(other.body.reqNo, null, "no reqNo given, none echoed");
  });

  test("login checks the account, picks a node, saves the route and hands out a connect token that works", async () => {
    const id = await register("lisi");
    const bad = await cim("/login", { reqNo: "l0", userId: id, userName: "someone-else" });
    assert.equal(bad.status, 403);
    assert.equal(bad.body.code, "9100");
    assert.equal(bad.body.reqNo, "l0", "errors echo reqNo too");
    assert.match(bad.body.message, /userName does not match/);
    const unknown = await cim("/login", { reqNo: "l00", userId: 987654321, userName: "lisi" });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, "9100");
    assert.match(unknown.body.message, /user 987654321 is not registered/);

    const { client, got, login: d } = await connect(id, "lisi");
    assert.equal(d.ip, "127.0.0.1");
    assert.equal(`${d.ip}:${d.cimServerPort}`, d.tcp_addr);
    assert.equal(d.httpPort, sb.apiPort);
    assert.equal(d.device_flag, 0);
    assert.equal(typeof d.token, "string");
    assert.ok(
      sb.nodes.some((n) => n.info().id === d.node && n.info().external.wsAddr === d.ws_addr && n.info().external.tcpAddr === d.tcp_addr),
      `a real node: ${JSON.stringify(d)}`,
    );
    const online = await sb.get("/onlineUser", h);
    assert.deepEqual(online.body.dataBody, [{ userId: id, userName: "lisi" }]);
    const post = await cim("/onlineUser", { reqNo: "o1" });
    assert.equal(post.body.reqNo, "o1");
    assert.equal(post.body.dataBody.length, 1);
    assert.equal((await sb.get("/onlineUser?reqNo=o2", h)).body.reqNo, "o2");

    // Online: p2pRoute delivers at once, as WuKongIM text.
    const sender = await register("lisi-friend");
    const p2p = await cim("/p2pRoute", { reqNo: "p0", userId: sender, receiveUserId: id, msg: "在吗" });
    assert.equal(p2p.body.dataBody.online, true);
    await until("the p2p message", () => got.length > 0, 10_000);
    assert.equal(got[0].fromUid, String(sender));
    assert.deepEqual(JSON.parse(got[0].text), { type: 1, content: "在吗" });

    const disconnected = new Promise<{ reasonCode?: number; willReconnect: boolean }>((resolve) => client.on("disconnected", resolve));
    const off = await cim("/offLine", { reqNo: "x", userId: id });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.deepEqual(off.body.dataBody, { kicked: 1, clearedRoute: d.node });
    const gone = await disconnected;
    assert.equal(gone.reasonCode, 12, "kicked with ConnectKick");
    assert.equal(gone.willReconnect, false, "a kicked client stays off");
    const again = await cim("/offLine", { reqNo: "y", userId: id });
    assert.equal(again.body.dataBody.clearedRoute, null, "the route was cleared");
    const offUnknown = await cim("/offLine", { reqNo: "z", userId: 987654321 });
    assert.equal(offUnknown.status, 404);
    assert.equal(offUnknown.body.code, "9100");
  });

  test("login takes a device flag; each device gets its own token", async () => {
    const id = await register("wang-web");
    const app = await connect(id, "wang-web", 0);
    const web = await connect(id, "wang-web", 1);
    assert.equal(web.login.device_flag, 1);
    assert.notEqual(web.login.token, app.login.token);
    assert.equal(web.login.node, app.login.node, "a user's devices share a node");
    const snake = await cim("/login", { userId: id, userName: "wang-web", device_flag: 2 });
    assert.equal(snake.body.dataBody.device_flag, 2, "WuKongIM's device_flag is read too");
    const off = await cim("/offLine", { userId: id });
    assert.equal(off.body.dataBody.kicked, 2, "both devices are kicked");
  });

  test("p2pRoute stores for an offline receiver (synced later) and refuses unknown users", async () => {
    const a = await register("wangwu");
    const b = await register("zhaoliu");
    const res = await cim("/p2pRoute", { reqNo: "p1", timeStamp: 1, userId: a, receiveUserId: b, msg: "你好 zhaoliu" });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.reqNo, "p1");
    assert.equal(res.body.dataBody.online, false);
    assert.equal(res.body.dataBody.messageSeq, 1);
    const sync = await sb.post("/channel/messagesync", { login_uid: String(b), channel_id: String(a), channel_type: 1 }, h);
    assert.equal(sync.status, 200, JSON.stringify(sync.body));
    const [m] = sync.body.messages;
    assert.equal(m.from_uid, String(a));
    assert.equal(m.message_id, res.body.dataBody.messageId);
    assert.deepEqual(JSON.parse(Buffer.from(m.payload, "base64").toString()), { type: 1, content: "你好 zhaoliu" });
    const conv = await sb.post("/conversation/sync", { uid: String(b), version: 0 }, h);
    assert.equal(conv.status, 200, JSON.stringify(conv.body));
    assert.equal(conv.body.length, 1);
    assert.equal(conv.body[0].channel_id, String(a));
    assert.equal(conv.body[0].unread, 1);

    // The receiver comes online and its SDK syncs the message.
    const { got } = await connect(b, "zhaoliu");
    await until("the offline message to be synced", () => got.some((x) => x.synced), 10_000);
    assert.deepEqual(JSON.parse(got[0].text), { type: 1, content: "你好 zhaoliu" });

    const unknown = await cim("/p2pRoute", { reqNo: "p2", userId: a, receiveUserId: 424242424, msg: "x" });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, "9100");
    assert.equal(unknown.body.reqNo, "p2");
    assert.match(unknown.body.message, /receiver 424242424 is not registered/);
    const noSender = await cim("/p2pRoute", { userId: 424242424, receiveUserId: a, msg: "x" });
    assert.equal(noSender.status, 404);
    assert.match(noSender.body.message, /sender 424242424 is not registered/);
  });

  test("groupRoute reaches everyone online but the sender, or a named group of which the sender is a member", async () => {
    const names = ["g-a", "g-b", "g-c"];
    const ids = await Promise.all(names.map(register));
    const [a, b, c] = ids;
    const users: Awaited<ReturnType<typeof connect>>[] = [];
    for (const [i, id] of ids.entries()) users.push(await connect(id, names[i]));
    // The sender's own devices get a copy of what it sends (multi-device sync): look at others' messages.
    const from = (i: number, sender: number) =>
      users[i].got.filter((m) => m.fromUid === String(sender)).map((m) => JSON.parse(m.text).content);
    const res = await cim("/groupRoute", { reqNo: "g1", userId: a, msg: "hello all" });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // Users of the other tests may still be online: at least b and c.
    assert.ok(res.body.dataBody.delivered >= 2, `delivered to b and c at least: ${JSON.stringify(res.body)}`);
    await until("the group message at b and c", () => from(1, a).length > 0 && from(2, a).length > 0, 10_000);
    assert.deepEqual(from(1, a), ["hello all"]);
    assert.deepEqual(
      users[0].got.filter((m) => m.fromUid !== String(a)),
      [],
      "not to the sender",
    );

    await sb.post("/channel", { channel_id: "cim-team", channel_type: 2, subscribers: [String(a), String(b)] }, h);
    const named = await cim("/groupRoute", { reqNo: "g2", userId: a, msg: "team only", groupId: "cim-team" });
    assert.equal(named.status, 200, JSON.stringify(named.body));
    assert.equal(named.body.dataBody.messageSeq, 1);
    await until("the team message at b", () => users[1].got.some((m) => m.channelId === "cim-team"), 10_000);
    const outsider = await cim("/groupRoute", { reqNo: "g3", userId: c, msg: "let me in", groupId: "cim-team" });
    assert.equal(outsider.status, 403, JSON.stringify(outsider.body));
    assert.equal(outsider.body.code, "4000");
    assert.equal(outsider.body.reqNo, "g3");
    assert.match(outsider.body.message, /not a member of group cim-team/);
    const noGroup = await cim("/groupRoute", { userId: a, msg: "x", groupId: "no-such-group" });
    assert.equal(noGroup.status, 404, JSON.stringify(noGroup.body));
    assert.match(noGroup.body.message, /group no-such-group does not exist/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(
      users[2].got.some((m) => m.channelId === "cim-team"),
      false,
      "the outsider got nothing of the team",
    );
  });

  test("bad input: 400 with CIM's envelope and a clear message; the API key is required", async () => {
    const cases: [string, unknown, RegExp][] = [
      ["/registerAccount", {}, /userName is required/],
      ["/registerAccount", { userName: "x".repeat(65) }, /userName is longer than 64/],
      ["/registerAccount", { userName: { first: "a" } }, /userName must be a string/],
      ["/registerAccount", { userName: "tab\there" }, /userName must be 1-64 characters without control characters/],
      ["/registerAccount", { userName: "a", timeStamp: "yesterday" }, /timeStamp must be a number/],
      ["/registerAccount", { userName: "a", reqNo: { n: 1 } }, /reqNo must be a string/],
      ["/login", { userName: "a" }, /userId is required/],
      ["/login", { userId: "abc", userName: "a" }, /userId must be a user id/],
      ["/login", { userId: 1, userName: "a", deviceFlag: 300 }, /deviceFlag must be a whole number from 0 to 255/],
      ["/p2pRoute", { userId: 1, receiveUserId: 2 }, /msg is required/],
      ["/p2pRoute", { userId: 1, msg: "x" }, /receiveUserId is required/],
      ["/p2pRoute", { userId: -1, receiveUserId: 2, msg: "x" }, /userId must be a user id/],
      ["/groupRoute", { userId: 1, msg: "x", groupId: ["g"] }, /groupId must be a string/],
      ["/groupRoute", "[1,2]", /JSON object/],
      ["/offLine", "{nope", /not valid JSON/],
      ["/offLine", "", /request body is empty/],
      ["/onlineUser", "{nope", /not valid JSON/],
    ];
    for (const [path, body, message] of cases) {
      const res = await cim(path, body);
      const what = `${path} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`;
      assert.equal(res.status, 400, what);
      assert.equal(res.body.code, "3000", what);
      assert.equal(res.body.dataBody, null, what);
      assert.match(res.body.message, message, what);
    }
    const echoed = await cim("/login", { reqNo: "bad-1", userName: "a" });
    assert.equal(echoed.body.reqNo, "bad-1", "a 400 echoes the reqNo it could read");
    for (const path of ["/registerAccount", "/login", "/p2pRoute", "/groupRoute", "/offLine", "/onlineUser"]) {
      const open = await sb.post(path, { reqNo: "k", userName: "nokey" });
      assert.equal(open.status, 401, `${path} needs the key`);
      assert.equal(open.body.code, "4000", `${path}: ${JSON.stringify(open.body)}`);
    }
  });
}

describe("CIM API on SQLite", { timeout: 60_000 }, () => cimScenarios(() => ({})));

const skipPostgres = await skipUnless("postgres");
describe("CIM API on PostgreSQL", { skip: skipPostgres, timeout: 60_000 }, () => {
  const schema = uniqueName("cim").toLowerCase();
  after(async () => {
    const sql = new pg.Client({ connectionString: serviceUrls.postgres });
    await sql.connect();
    await sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await sql.end();
  });
  cimScenarios(() => ({ postgresUrl: serviceUrls.postgres, clusterName: schema }));
});
