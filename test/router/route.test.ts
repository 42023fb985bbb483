import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type TestServer, startTestServer } from "../helpers/server.js";

describe("route API", () => {
  let sb: TestServer;
  before(async () => {
    sb = await startTestServer({ nodes: 2 });
  });
  after(async () => sb.stop());

  test("docs/api.md's curl example answers groups spread over the nodes, each uid once, input order kept", async () => {
    const uids = Array.from({ length: 40 }, (_, i) => `user${i + 1}`);
    const { status, body } = await sb.post("/route/batch?intranet=0", uids);
    assert.equal(status, 200);
    assert.ok(Array.isArray(body));
    assert.equal(body.length, 2, "40 users over 2 nodes land on both");
    const seen = body.flatMap((g: { uids: string[] }) => g.uids);
    assert.deepEqual([...seen].sort(), [...uids].sort(), "every uid in exactly one group");
    const nodes = sb.nodes.map((n) => n.info().external);
    for (const group of body) {
      const node = nodes.find((n) => n.tcpAddr === group.tcp_addr);
      assert.ok(node, `group address ${group.tcp_addr} is a node's`);
      assert.equal(group.ws_addr, node.wsAddr);
      assert.equal(group.wss_addr, node.wssAddr);
      assert.match(group.tcp_addr, /^127\.0\.0\.1:\d+$/);
      assert.match(group.ws_addr, /^ws:\/\/127\.0\.0\.1:\d+$/);
      assert.match(group.wss_addr, /^wss:\/\/127\.0\.0\.1:\d+$/);
      const order = group.uids.map((u: string) => uids.indexOf(u));
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
        "input order kept inside a group",
      );
    }
  });

  test("the same uid is routed to the same node every time", async () => {
    const a = await sb.post("/route/batch", ["alice", "bob", "carol"]);
    const b = await sb.post("/route/batch", ["carol", "bob", "alice"]);
    const where = (groups: { uids: string[]; tcp_addr: string }[]) =>
      Object.fromEntries(groups.flatMap((g) => g.uids.map((u) => [u, g.tcp_addr])));
    assert.deepEqual(where(a.body), where(b.body));
  });

  test("GET /route gives one user's addresses, matching the batch answer", async () => {
    const batch = await sb.post("/route/batch", ["dave"]);
    const one = await sb.get("/route?uid=dave");
    assert.equal(one.status, 200);
    assert.equal(one.body.tcp_addr, batch.body[0].tcp_addr);
    assert.equal(one.body.ws_addr, batch.body[0].ws_addr);
  });

  test("intranet=1 answers intranet addresses", async () => {
    const { status, body } = await sb.post("/route/batch?intranet=1", ["u1"]);
    assert.equal(status, 200);
    assert.match(body[0].tcp_addr, /^127\.0\.0\.1:\d+$/);
  });

  test("repeated uids are kept once, at their first position", async () => {
    const { status, body } = await sb.post("/route/batch", ["x1", "x2", "x1", "x1"]);
    assert.equal(status, 200);
    const all = body.flatMap((g: { uids: string[] }) => g.uids);
    assert.deepEqual([...all].sort(), ["x1", "x2"]);
  });

  test("an empty array answers an empty list", async () => {
    const { status, body } = await sb.post("/route/batch", []);
    assert.equal(status, 200);
    assert.deepEqual(body, []);
  });

  for (const [name, raw, status] of [
    ["not JSON", "{nope", 400],
    ["an empty body", "", 400],
    ["an object instead of an array", { uids: ["a"] }, 400],
    ["a number uid", ["a", 7], 400],
    ["an empty uid", ["a", ""], 400],
    ["a uid with @", ["a@b"], 400],
    ["null inside", [null], 400],
    ["a batch over the limit", Array.from({ length: 1001 }, (_, i) => `u${i}`), 413],
  ] as const) {
    test(`bad input: ${name} gets ${status} with a JSON error`, async () => {
      const res = await sb.post("/route/batch", raw);
      assert.equal(res.status, status);
      assert.equal(typeof res.body.error, "string");
      assert.equal(typeof res.body.message, "string");
      assert.ok(res.body.message.length > 0);
    });
  }

  test("bad intranet value is a 400", async () => {
    const res = await sb.post("/route/batch?intranet=yes", ["a"]);
    assert.equal(res.status, 400);
  });

  test("wrong method is 405 with Allow, unknown path is 404", async () => {
    const wrong = await sb.get("/route/batch");
    assert.equal(wrong.status, 405);
    assert.equal(wrong.body.error, "method_not_allowed");
    const res = await fetch(`${sb.apiUrl}/route/batch`, { method: "GET" });
    assert.equal(res.headers.get("allow"), "POST");
    const missing = await sb.get("/no/such/thing");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, "not_found");
  });

  test("a body over the size limit is 413", async () => {
    const res = await sb.post("/route/batch", `[${'"x",'.repeat(600_000)}"x"]`);
    assert.equal(res.status, 413);
  });

  test("/health and /nodes describe the running nodes", async () => {
    const health = await sb.get("/health");
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "ok");
    assert.equal(health.body.nodes, 2);
    const nodes = await sb.get("/nodes");
    assert.equal(nodes.status, 200);
    assert.deepEqual(
      nodes.body.map((n: { id: string }) => n.id),
      ["node-1", "node-2"],
    );
    for (const n of nodes.body) {
      assert.equal(n.status, "up");
      assert.equal(typeof n.connections, "number");
      assert.match(n.ws_addr, /^ws:\/\//);
    }
  });
});
