import assert from "node:assert/strict";
import { type IncomingMessage, type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { connectSdkUser } from "../helpers/sdk-user.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { SdkLoader } from "../helpers/wk-sdk.js";

interface Hook {
  event: string;
  body: unknown[];
}

/** A webhook receiver that fails its first request (to prove retries) and records the rest. */
function receiver(): Promise<{
  server: Server;
  url: string;
  hooks: Hook[];
  failures: number;
  waitFor(pred: () => boolean): Promise<void>;
}> {
  const hooks: Hook[] = [];
  const state = { failures: 0 };
  const waiters = new Set<() => void>();
  const server = createServer((req: IncomingMessage, res) => {
    let data = "";
    req.on("data", (c) => {
      data += c;
    });
    req.on("end", () => {
      if (state.failures === 0) {
        state.failures++;
        res.writeHead(500).end("try again");
        return;
      }
      hooks.push({ event: new URL(req.url ?? "/", "http://x").searchParams.get("event") ?? "", body: JSON.parse(data) });
      res.writeHead(200).end("ok");
      for (const w of waiters) w();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
      resolve({
        server,
        url,
        hooks,
        get failures() {
          return state.failures;
        },
        waitFor: (pred) =>
          new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error(`webhooks so far: ${JSON.stringify(hooks)}`)), 15_000);
            const check = () => {
              if (!pred()) return;
              clearTimeout(timer);
              waiters.delete(check);
              res();
            };
            waiters.add(check);
            check();
          }),
      });
    });
  });
}

describe("webhooks (WuKongIM events, batched and retried)", () => {
  let sb: TestServer;
  let hooks: Awaited<ReturnType<typeof receiver>>;
  const loader = new SdkLoader();
  const quietLog = console.log;
  before(async () => {
    console.log = () => {};
    hooks = await receiver();
    sb = await startTestServer({ webhookUrl: hooks.url, tokenAuth: false });
  });
  after(async () => {
    await sb?.stop();
    hooks?.server.close();
    console.log = quietLog;
    await loader.dispose();
  });

  test("online status, every stored message, and offline recipients reach the webhook", async () => {
    const bob = await connectSdkUser(loader, { uid: "bob", token: "any", addr: () => sb.nodes[0].info().external.wsAddr });
    await bob.waitConnected();
    const ack = await bob.sendText("are you there?", "alice", 1);
    assert.equal(ack.reasonCode, 1);
    bob.close();

    const events = (name: string) => hooks.hooks.filter((h) => h.event === name).flatMap((h) => h.body);
    await hooks.waitFor(
      () => events("user.onlinestatus").length >= 2 && events("msg.notify").length >= 1 && events("msg.offline").length >= 1,
    );
    assert.ok(hooks.failures >= 1, "the receiver failed once and the webhook retried");
    const status = events("user.onlinestatus") as string[];
    assert.match(status[0], /^bob-1-1-node-1-\w+-1-1$/, "bob online: uid-device-1-connId-1-1");
    assert.match(status[1], /^bob-1-0-node-1-\w+-0-0$/, "bob offline: uid-device-0-connId-0-0");
    const [notify] = events("msg.notify") as { from_uid: string; message_seq: number; payload: string }[];
    assert.equal(notify.from_uid, "bob");
    assert.equal(notify.message_seq, ack.messageSeq);
    assert.equal(JSON.parse(Buffer.from(notify.payload, "base64").toString()).content, "are you there?");
    const [offline] = events("msg.offline") as { to_uids: string[]; message_idstr: string }[];
    assert.deepEqual(offline.to_uids, ["alice"], "alice was offline; bob, the sender, is not listed");
    assert.equal(offline.message_idstr, ack.messageID);
  });
});
