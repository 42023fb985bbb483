import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type TestServer, startTestServer } from "../helpers/server.js";

describe("dashboard API and web files", () => {
  let sb: TestServer;
  before(async () => {
    sb = await startTestServer();
  });
  after(() => sb?.stop());

  test("the snapshot lists the nodes and this process's counters", async () => {
    await sb.post("/message/send", { from_uid: "a", channel_id: "b", channel_type: 1, payload: Buffer.from("x").toString("base64") });
    const res = await sb.get("/dashboard/snapshot");
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.nodes.map((n: { id: string }) => n.id),
      ["node-1", "node-2"],
    );
    assert.equal(res.body.process.messagesIn, 1);
    assert.equal(res.body.process.storeBatches, 1);
  });

  test("server-sent events carry snapshots", async () => {
    const controller = new AbortController();
    const res = await fetch(`${sb.apiUrl}/dashboard/events`, { signal: controller.signal });
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes("\n\n")) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    assert.match(text, /^event: snapshot\ndata: \{/);
    const data = JSON.parse(text.split("\n")[1].slice("data: ".length));
    assert.equal(data.nodes.length, 2);
  });

  test("the web app is served, and nothing outside its folder", async () => {
    const root = await fetch(`${sb.apiUrl}/`, { redirect: "manual" });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get("location"), "/web/");
    const page = await fetch(`${sb.apiUrl}/web/dashboard.html`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(await page.text(), /dashboard\.js/);
    for (const path of ["/web/../package.json", "/web/%2e%2e/package.json", "/web/nope.html", "/web/x.ts"]) {
      const res = await fetch(`${sb.apiUrl}${path}`);
      assert.equal(res.status, 404, path);
      await res.arrayBuffer();
    }
    const broken = await fetch(`${sb.apiUrl}/web/%E0%A4%A`);
    assert.equal(broken.status, 400, "a path that is not valid percent-encoding is the client's error, not a 500");
    assert.equal((await broken.json()).error, "bad_request");
  });
});
