import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ReasonCode } from "../../src/protocol/index.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { Client } from "../helpers/wk/client.js";

describe("plaintext sessions (--allow-plaintext)", () => {
  let sb: TestServer;
  let closed: TestServer;
  const clients: Client[] = [];
  before(async () => {
    sb = await startTestServer({ allowPlaintext: true, tokenAuth: false, nodes: 1 });
    closed = await startTestServer({ tokenAuth: false, nodes: 1 });
  });
  after(async () => {
    for (const c of clients) c.close();
    await sb?.stop();
    await closed?.stop();
  });

  test("a CONNECT without client_key is refused by default", async () => {
    const c = await Client.connect(closed.nodes[0].info().external.tcpAddr, { uid: "p0", plaintext: true });
    clients.push(c);
    assert.equal(c.connack?.reasonCode, ReasonCode.ClientKeyIsEmpty);
    await c.ended(10_000);
  });

  test("plaintext and encrypted members of one group each get the message in their own form", async () => {
    const addr = sb.nodes[0].info().external.tcpAddr;
    const [a, b, c] = await Promise.all([
      Client.connect(addr, { uid: "pa", plaintext: true }),
      Client.connect(addr, { uid: "pb", plaintext: true }),
      Client.connect(addr, { uid: "pc" }),
    ]);
    clients.push(a, b, c);
    assert.equal(a.connack?.reasonCode, ReasonCode.Success);
    assert.equal(a.connack?.serverKey, "", "no server key for a plaintext session");
    assert.notEqual(c.connack?.serverKey, "", "the encrypted member got a key");
    const created = await sb.post("/channel", { channel_id: "pg", channel_type: 2, subscribers: ["pa", "pb", "pc"] });
    assert.equal(created.status, 200);

    const ack = await a.send("pg", 2, "plain hello · 你好");
    assert.equal(ack.reasonCode, ReasonCode.Success);
    assert.equal(ack.messageSeq, 1);
    for (const member of [b, c]) {
      const recv = await member.waitRecv("RECV", () => true, 10_000);
      assert.equal(recv.text, "plain hello · 你好");
      assert.equal(recv.packet.messageId, ack.messageId);
      assert.equal(recv.packet.channelId, "pg");
    }
    assert.equal(b.recvs[0].packet.msgKey, "", "a plaintext RECV carries no msg_key");
    assert.notEqual(c.recvs[0].packet.msgKey, "", "an encrypted RECV carries its msg_key");

    const reply = await c.send("pa", 1, "encrypted to plain");
    assert.equal(reply.reasonCode, ReasonCode.Success);
    const got = await a.waitRecv("from pc", (r) => r.packet.fromUid === "pc", 10_000);
    assert.equal(got.text, "encrypted to plain");
    assert.equal(got.packet.channelId, "pc", "a person channel shows the peer");
  });
});
