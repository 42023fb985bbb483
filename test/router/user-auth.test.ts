import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type TestServer, startTestServer } from "../helpers/server.js";

describe("sync endpoints with the user's own token instead of the API key", () => {
  const KEY = "user-auth-test-key";
  let sb: TestServer;
  const user = (uid: string, token: string, device = 1) => ({ authorization: `User ${encodeURIComponent(uid)}:${device}:${token}` });
  before(async () => {
    sb = await startTestServer({ apiKey: KEY });
    await sb.post("/user/token", { uid: "al ice", token: "secret-1", device_flag: 1 }, { token: KEY });
    await sb.post("/message/send", { from_uid: "bob", channel_id: "al ice", channel_type: 1, payload: "aGk=" }, { token: KEY });
  });
  after(() => sb?.stop());

  test("a user reads their own conversations and messages", async () => {
    const conv = await sb.post("/conversation/sync", { uid: "al ice", version: 0 }, user("al ice", "secret-1"));
    assert.equal(conv.status, 200, JSON.stringify(conv.body));
    assert.equal(conv.body[0].channel_id, "bob");
    const msgs = await sb.post(
      "/channel/messagesync",
      { login_uid: "al ice", channel_id: "bob", channel_type: 1 },
      user("al ice", "secret-1"),
    );
    assert.equal(msgs.status, 200);
    assert.equal(msgs.body.messages.length, 1);
  });

  test("someone else's data, a wrong token, another device's token, or other endpoints are refused", async () => {
    const other = await sb.post("/conversation/sync", { uid: "bob", version: 0 }, user("al ice", "secret-1"));
    assert.equal(other.status, 403);
    assert.equal(other.body.error, "forbidden");
    // A body naming the caller in one field and someone else in the other is refused whichever field the handler reads.
    for (const path of ["/conversation/sync", "/conversations/clearUnread", "/channel/messagesync"]) {
      const mixed = await sb.post(
        path,
        { uid: "bob", login_uid: "al ice", channel_id: "bob", channel_type: 1, version: 0 },
        user("al ice", "secret-1"),
      );
      assert.equal(mixed.status, 403, `${path}: ${JSON.stringify(mixed.body)}`);
      const flipped = await sb.post(
        path,
        { uid: "al ice", login_uid: "bob", channel_id: "al ice", channel_type: 1, version: 0 },
        user("al ice", "secret-1"),
      );
      assert.equal(flipped.status, 403, `${path}: ${JSON.stringify(flipped.body)}`);
    }
    assert.equal((await sb.post("/conversation/sync", { uid: "al ice" }, user("al ice", "nope"))).status, 401);
    assert.equal((await sb.post("/conversation/sync", { uid: "al ice" }, user("al ice", "secret-1", 0))).status, 401);
    assert.equal((await sb.post("/conversation/sync", { uid: "al ice" }, { authorization: "User %E0%A4%A:1:x" })).status, 401);
    const send = await sb.post(
      "/message/send",
      { from_uid: "al ice", channel_id: "bob", channel_type: 1, payload: "aGk=" },
      user("al ice", "secret-1"),
    );
    assert.equal(send.status, 401, "server-side sends still need the API key");
  });
});
