import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type TestServer, startTestServer } from "../helpers/server.js";

/** A sample's value in Prometheus text, e.g. sample(text, 'switchboard_messages_in_total{source="http",result="stored"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("GET /metrics", () => {
  let sb: TestServer;
  before(async () => {
    sb = await startTestServer();
  });
  after(() => sb?.stop());

  test("counts stored and refused messages, API requests by route pattern, and connections per transport", async () => {
    const payload = Buffer.from("hi").toString("base64");
    for (let i = 0; i < 3; i++) {
      const res = await sb.post("/message/send", { from_uid: "a", channel_id: "b", channel_type: 1, payload });
      assert.equal(res.status, 200);
    }
    const refused = await sb.post("/message/send", { from_uid: "a", channel_id: "nogroup", channel_type: 2, payload });
    assert.equal(refused.status, 404);
    await sb.get("/route?uid=someone");
    await sb.get("/no/such/path");

    const res = await fetch(`${sb.apiUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await res.text();
    assert.equal(sample(text, 'switchboard_messages_in_total{source="http",result="stored"}'), 3);
    assert.equal(sample(text, 'switchboard_messages_in_total{source="http",result="refused"}'), 1);
    assert.equal(sample(text, 'switchboard_http_requests_total{route="/message/send",status="200"}'), 3);
    assert.equal(sample(text, 'switchboard_http_requests_total{route="/route",status="200"}'), 1);
    assert.equal(sample(text, 'switchboard_http_requests_total{route="unmatched",status="404"}'), 1);
    assert.ok((sample(text, "switchboard_store_append_seconds_count") ?? 0) >= 1, "store batches are timed");
    assert.equal(sample(text, 'switchboard_connections{node="node-1",transport="tcp"}'), 0);
    assert.equal(sample(text, 'switchboard_connections{node="node-2",transport="wss"}'), 0);
  });
});
