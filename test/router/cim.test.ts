/** Seed 003's CIM endpoints on SQLite and PostgreSQL, with CIM's field names and envelope. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import postgres from "postgres";
import WebSocket from "ws";
import { SwitchboardClient } from "../../src/client/node.js";
import type { WebSocketConstructor } from "../../src/client/transport.js";
import type { ServeOptions } from "../../src/config/options.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";

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
  const register = async (userName: string) => {
    const res = await cim("/registerAccount", { reqNo: "r1", timeStamp: 1, userName });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.dataBody.userId as number;
  };

  test("registerAccount gives a name one id, in CIM's envelope", async () => {
    const res = await cim("/registerAccount", { reqNo: "req-7", timeStamp: 1700000000, userName: "zhangsan" });
    assert.equal(res.status, 200);
    assert.equal(res.body.code, "9000");
    assert.equal(res.body.reqNo, "req-7");
    assert.equal(typeof res.body.dataBody.userId, "number");
    assert.equal(res.body.dataBody.userName, "zhangsan");
    const again = await cim("/registerAccount", { reqNo: "req-8", userName: "zhangsan" });
    assert.equal(again.body.dataBody.userId, res.body.dataBody.userId, "idempotent per name");
  });

  test("login checks the account, picks a node and hands out a connect token that works", async () => {
    const id = await register("lisi");
    const bad = await cim("/login", { reqNo: "l0", userId: id, userName: "someone-else" });
    assert.equal(bad.status, 403);
    assert.equal(bad.body.code, "9100");
    const res = await cim("/login", { reqNo: "l1", timeStamp: 1, userId: id, userName: "lisi" });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const d = res.body.dataBody;
    assert.equal(d.ip, "127.0.0.1");
    assert.equal(`${d.ip}:${d.cimServerPort}`, d.tcp_addr);
    assert.equal(d.httpPort, sb.apiPort);
    assert.ok(
      sb.nodes.some((n) => n.info().external.wsAddr === d.ws_addr),
      "a real node",
    );
    const client = new SwitchboardClient({
      apiUrl: sb.apiUrl,
      uid: String(id),
      token: d.token,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    clients.push(client);
    await client.connect();
    const online = await sb.get("/onlineUser", h);
    assert.deepEqual(online.body.dataBody, [{ userId: id, userName: "lisi" }]);
    const post = await cim("/onlineUser", { reqNo: "o1" });
    assert.equal(post.body.reqNo, "o1");
    assert.equal(post.body.dataBody.length, 1);

    const disconnected = new Promise<{ reasonCode?: number }>((resolve) => client.on("disconnected", resolve));
    const off = await cim("/offLine", { reqNo: "x", userId: id });
    assert.equal(off.body.dataBody.kicked, 1);
    assert.equal((await disconnected).reasonCode, 12, "kicked with ConnectKick");
  });

  test("p2pRoute stores for an offline receiver (synced later) and refuses unknown users", async () => {
    const a = await register("wangwu");
    const b = await register("zhaoliu");
    const res = await cim("/p2pRoute", { reqNo: "p1", timeStamp: 1, userId: a, receiveUserId: b, msg: "你好 zhaoliu" });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.dataBody.online, false);
    assert.equal(res.body.dataBody.messageSeq, 1);
    const sync = await sb.post("/channel/messagesync", { login_uid: String(b), channel_id: String(a), channel_type: 1 }, h);
    const [m] = sync.body.messages;
    assert.deepEqual(JSON.parse(Buffer.from(m.payload, "base64").toString()), { type: 1, content: "你好 zhaoliu" });
    const conv = await sb.post("/conversation/sync", { uid: String(b), version: 0 }, h);
    assert.equal(conv.body[0].unread, 1);
    const unknown = await cim("/p2pRoute", { reqNo: "p2", userId: a, receiveUserId: 424242424, msg: "x" });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, "4000");
    assert.match(unknown.body.message, /receiver 424242424 is not registered/);
  });

  test("groupRoute reaches everyone online but the sender, or a named group", async () => {
    const [a, b, c] = [await register("g-a"), await register("g-b"), await register("g-c")];
    const got = new Map<number, string[]>();
    for (const id of [a, b, c]) {
      const login = await cim("/login", { userId: id, userName: id === a ? "g-a" : id === b ? "g-b" : "g-c" });
      const client = new SwitchboardClient({
        apiUrl: sb.apiUrl,
        uid: String(id),
        token: login.body.dataBody.token,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
      });
      clients.push(client);
      got.set(id, []);
      // The sender's own devices get a copy of what it sends (multi-device sync): count others' messages.
      client.on("message", (m) => {
        if (m.fromUid !== String(id)) got.get(id)?.push(JSON.parse(m.text).content);
      });
      await client.connect();
    }
    const res = await cim("/groupRoute", { reqNo: "g1", userId: a, msg: "hello all" });
    assert.equal(res.body.dataBody.delivered, 2);
    const deadline = Date.now() + 10_000;
    while ((got.get(b)?.length ?? 0) < 1 || (got.get(c)?.length ?? 0) < 1) {
      assert.ok(Date.now() < deadline, `group message arrived: ${JSON.stringify([...got])}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(got.get(a), [], "not to the sender");
    await sb.post("/channel", { channel_id: "cim-team", channel_type: 2, subscribers: [String(a), String(b)] }, h);
    const named = await cim("/groupRoute", { userId: a, msg: "team only", groupId: "cim-team" });
    assert.equal(named.status, 200, JSON.stringify(named.body));
    assert.equal(named.body.dataBody.messageSeq, 1);
  });

  test("bad input: 400 with CIM's envelope and a clear message; the API key is required", async () => {
    const cases: [string, unknown, RegExp][] = [
      ["/registerAccount", {}, /userName is required/],
      ["/registerAccount", { userName: "x".repeat(65) }, /userName/],
      ["/login", { userName: "a" }, /userId is required/],
      ["/login", { userId: "abc", userName: "a" }, /userId must be a user id/],
      ["/p2pRoute", { userId: 1, receiveUserId: 2 }, /msg is required/],
      ["/groupRoute", "[1,2]", /JSON object/],
      ["/offLine", "{nope", /not valid JSON/],
    ];
    for (const [path, body, message] of cases) {
      const res = await cim(path, body);
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, "3000");
      assert.match(res.body.message, message);
    }
    const open = await sb.post("/registerAccount", { userName: "nokey" });
    assert.equal(open.status, 401);
    assert.equal(open.body.code, "4000");
  });
}

describe("CIM API on SQLite", { timeout: 60_000 }, () => cimScenarios(() => ({})));

const skipPostgres = await skipUnless("postgres");
describe("CIM API on PostgreSQL", { skip: skipPostgres, timeout: 60_000 }, () => {
  const schema = uniqueName("cim").toLowerCase();
  after(async () => {
    const sql = postgres(serviceUrls.postgres, { onnotice: () => {} });
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await sql.end();
  });
  cimScenarios(() => ({ postgresUrl: serviceUrls.postgres, clusterName: schema }));
});
