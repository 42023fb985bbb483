/**
 * Clients that push the gateway's limits: one that never reads (its write-buffer cap disconnects it,
 * nothing is lost from the store), one that floods SENDs (RateLimit acks, then a disconnect), and
 * many simultaneous logins of one device (exactly one survives). Others keep chatting throughout.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PacketType, ReasonCode } from "../../src/protocol/index.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { sleep } from "../helpers/wait.js";
import { Client } from "../helpers/wk/client.js";

describe("gateway under overload", () => {
  let sb: TestServer;
  let addr: string;
  const clients: Client[] = [];
  const open = async (uid: string, deviceFlag = 0) => {
    const c = await Client.connect(addr, { uid, deviceFlag });
    clients.push(c);
    return c;
  };
  before(async () => {
    sb = await startTestServer({ tokenAuth: false, nodes: 1, maxWriteBufferBytes: 64 * 1024, sendRate: 50 });
    addr = sb.nodes[0].info().external.tcpAddr;
  });
  after(async () => {
    for (const c of clients) c.close();
    await sb?.stop();
  });

  test("a client that never reads is cut off at its write-buffer cap; the others and the store are unaffected", async () => {
    const slow = await open("o-slow");
    const alice = await open("o-alice");
    const bob = await open("o-bob");
    slow.pause(); // reads nothing from here on: the kernel buffers fill, then the server's
    const online = async () => (await sb.backends.presence.lookup(["o-slow"])).has("o-slow");
    const payload = Buffer.alloc(64 * 1024, "x").toString("base64");
    let stored = 0;
    // Loopback kernel buffers hold several MiB before the server's own buffer starts to grow.
    for (let i = 0; i < 2000 && (await online()); i++) {
      const res = await sb.post("/message/send", { from_uid: "o-pusher", channel_id: "o-slow", channel_type: 1, payload });
      assert.equal(res.status, 200);
      stored++;
    }
    assert.equal(await online(), false, `the slow client was disconnected (after ${stored} messages)`);
    const ack = await alice.send("o-bob", 1, "unaffected");
    assert.equal(ack.reasonCode, ReasonCode.Success);
    await bob.waitRecv("bob's message", (r) => r.text === "unaffected", 10_000);
    const max = await sb.get("/channel/max_message_seq?channel_id=o-pusher&channel_type=1&login_uid=o-slow");
    assert.equal(max.body.message_seq, stored, "every message is stored for the slow client to sync");
    const rss = process.memoryUsage().rss;
    assert.ok(rss < 1024 * 1024 * 1024, `memory stays bounded (${Math.round(rss / 2 ** 20)} MiB)`);
  });

  test("a SEND flood gets RateLimit acks, then a disconnect", async () => {
    const flooder = await open("o-flood");
    const sends = Array.from({ length: 400 }, (_, i) => flooder.send("o-bob", 1, `flood ${i}`).catch(() => undefined));
    await flooder.waitFor("disconnect", () => (flooder.closed ? true : undefined), 20_000);
    const acks = flooder.packets.filter((p) => p.type === PacketType.SENDACK);
    assert.ok(
      acks.some((p) => "reasonCode" in p && p.reasonCode === ReasonCode.RateLimit),
      "RateLimit acks came first",
    );
    const disconnect = flooder.packets.find((p) => p.type === PacketType.DISCONNECT);
    assert.equal(disconnect && "reasonCode" in disconnect ? disconnect.reasonCode : undefined, ReasonCode.RateLimit);
    await Promise.all(sends);
    const carol = await open("o-carol");
    const ack = await carol.send("o-bob", 1, "after the flood");
    assert.equal(ack.reasonCode, ReasonCode.Success, "the server still serves others");
  });

  test("ten simultaneous logins of one device: exactly one session survives", async () => {
    const racers = await Promise.all(Array.from({ length: 10 }, () => Client.connect(addr, { uid: "o-race", deviceFlag: 1 })));
    clients.push(...racers);
    const deadline = Date.now() + 10_000;
    const alive = () => racers.filter((r) => !r.closed && r.connack?.reasonCode === ReasonCode.Success);
    while (alive().length !== 1 && Date.now() < deadline) await sleep(50);
    assert.equal(alive().length, 1, `sessions alive: ${alive().length}`);
    const bindings = (await sb.backends.presence.lookup(["o-race"])).get("o-race") ?? [];
    assert.equal(bindings.length, 1, "one binding in presence");
    const survivor = alive()[0];
    const ack = await (await open("o-dave")).send("o-race", 1, "to the survivor");
    assert.equal(ack.reasonCode, ReasonCode.Success);
    await survivor.waitRecv("message to the survivor", (r) => r.text === "to the survivor", 10_000);
  });
});
