/**
 * Fault test: security defaults on a running `switchboard serve` process started with an API key and
 * an Origin allowlist, logging at debug. Tokens are required on CONNECT (wrong, missing or another
 * device's token refused); server-side endpoints answer 401 without the key (the per-endpoint
 * matrix is in test/router/messaging-api.test.ts, "API key", and test/router/user-auth.test.ts: here
 * only the end-to-end check on a real process); a foreign WebSocket Origin is refused; WSS works
 * with the generated certificate and fails without trusting it; and after all of it, no token and
 * no key appears anywhere in the process's output.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type WebSocket from "ws";
import { ReasonCode } from "../../src/protocol/index.js";
import { sleep } from "../helpers/wait.js";
import { CountingClient } from "../helpers/wk/counting-client.js";
import { UpgradeRefused, Wire } from "../helpers/wk/wire.js";
import { type ServeProcess, startServeProcess } from "./helpers/procs.js";
import { report } from "./helpers/report.js";

const API_KEY = "fault-api-key-9f8e7d6c5b4a";
const ALLOWED_ORIGIN = "https://chat.example.com";
const TOKENS = { alice: "tok-alice-secret-31415", bob: "tok-bob-secret-27182" };
const WRONG_TOKEN = "wrong-token-secret-16180";

/** A WebSocket CONNECT: resolves with the CONNACK reason, or the HTTP status / error that refused the upgrade. */
async function wsConnect(url: string, uid: string, token: string, options: WebSocket.ClientOptions = {}): Promise<string> {
  let wire: Wire | undefined;
  try {
    wire = await Wire.openWs(url, { ws: options, timeoutMs: 10_000 });
    const connack = await wire.handshake({ uid, token, deviceId: `${uid}-ws`, timeoutMs: 10_000 });
    return `connack ${connack.reasonCode}`;
  } catch (err) {
    if (err instanceof UpgradeRefused) return `http ${err.status}`;
    return `error ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  } finally {
    wire?.close();
  }
}

describe("fault: security defaults on a running server (API key, Origin allowlist, debug logs)", () => {
  let server: ServeProcess;
  const key = { token: API_KEY };
  const clients: CountingClient[] = [];

  before(async () => {
    server = await startServeProcess(["--api-key", API_KEY, "--allowed-origins", ALLOWED_ORIGIN, "--log-level", "debug"]);
    for (const [uid, token] of Object.entries(TOKENS)) {
      const res = await server.post("/user/token", { uid, token, device_flag: 0 }, key);
      assert.equal(res.status, 200, `token for ${uid} set with the key`);
    }
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.stop();
  });

  test("CONNECT needs the user's token: wrong, missing, another device's or an unknown user's are refused", async (t) => {
    const tcp = server.nodes[0].tcpAddr;
    const attempt = async (uid: string, token: string, deviceFlag = 0) => {
      const c = new CountingClient({ uid, token, deviceFlag, addr: () => tcp });
      clients.push(c);
      const connack = await c.tryConnect();
      c.close();
      return connack?.reasonCode;
    };
    const outcomes = {
      wrong_token: await attempt("alice", WRONG_TOKEN),
      no_token: await attempt("alice", ""),
      other_device: await attempt("alice", TOKENS.alice, 1),
      unknown_user: await attempt("mallory", WRONG_TOKEN),
      bobs_token_for_alice: await attempt("alice", TOKENS.bob),
      right_token: await attempt("alice", TOKENS.alice),
    };
    report(
      t,
      "CONNECT token checks (CONNACK reason codes)",
      Object.fromEntries(Object.entries(outcomes).map(([k, v]) => [k, v ?? "no CONNACK"])),
    );
    for (const [name, code] of Object.entries(outcomes)) {
      if (name === "right_token") assert.equal(code, ReasonCode.Success, "the right token connects");
      else assert.equal(code, ReasonCode.AuthFail, `${name}: refused with AuthFail`);
    }
  });

  test("server-side endpoints need the API key; the route API and health stay open", async (t) => {
    const calls: [string, unknown][] = [
      ["/user/token", { uid: "eve", token: "x" }],
      ["/message/send", { from_uid: "eve", channel_id: "alice", channel_type: 1, payload: "aGk=" }],
      ["/channel", { channel_id: "g", channel_type: 2, subscribers: ["eve"] }],
      ["/channel/subscriber_add", { channel_id: "g", channel_type: 2, subscribers: ["eve"] }],
      ["/channel/messagesync", { login_uid: "alice", channel_id: "bob", channel_type: 1 }],
    ];
    const figures: Record<string, string> = {};
    for (const [path, body] of calls) {
      const none = await server.post(path, body);
      const wrong = await server.post(path, body, { token: "not-the-key" });
      const bearerWrong = await server.post(path, body, { authorization: "Bearer not-the-key" });
      figures[path] = `${none.status}/${wrong.status}/${bearerWrong.status}`;
      assert.equal(none.status, 401, `${path} without the key`);
      assert.equal(wrong.status, 401, `${path} with a wrong key`);
      assert.equal(bearerWrong.status, 401, `${path} with a wrong bearer key`);
    }
    const withKey = await server.post("/message/send", { from_uid: "bob", channel_id: "alice", channel_type: 1, payload: "aGk=" }, key);
    assert.equal(withKey.status, 200, "/message/send with the key");
    const bearer = await server.post(
      "/channel/messagesync",
      { login_uid: "alice", channel_id: "bob", channel_type: 1 },
      { authorization: `Bearer ${API_KEY}` },
    );
    assert.equal(bearer.status, 200, "/channel/messagesync with Authorization: Bearer KEY");
    // A user reads their own messages with their connect token (no key), and nobody else's.
    const own = await server.post(
      "/channel/messagesync",
      { login_uid: "alice", channel_id: "bob", channel_type: 1 },
      { authorization: `User alice:0:${TOKENS.alice}` },
    );
    const others = await server.post(
      "/channel/messagesync",
      { login_uid: "bob", channel_id: "alice", channel_type: 1 },
      { authorization: `User alice:0:${TOKENS.alice}` },
    );
    const wrongUser = await server.post(
      "/channel/messagesync",
      { login_uid: "alice", channel_id: "bob", channel_type: 1 },
      { authorization: `User alice:0:${WRONG_TOKEN}` },
    );
    assert.equal(own.status, 200, "alice syncs her own channel with her token");
    assert.equal(others.status, 403, "alice's token does not read bob's");
    assert.equal(wrongUser.status, 401, "a wrong user token is refused");
    const route = await server.get("/route?uid=alice");
    const health = await server.get("/health");
    assert.equal(route.status, 200, "the route API is open");
    assert.equal(health.status, 200, "/health is open");
    report(t, "API key (none/wrong/wrong bearer)", {
      ...figures,
      with_key: withKey.status,
      user_token_own: own.status,
      user_token_others: others.status,
      user_token_wrong: wrongUser.status,
      route_open: route.status,
    });
  });

  test("WebSocket Origin allowlist: a foreign Origin is refused, the listed one and none pass", async (t) => {
    const url = server.nodes[0].wsAddr;
    const foreign = await wsConnect(url, "alice", TOKENS.alice, { origin: "https://evil.example" });
    const lookalike = await wsConnect(url, "alice", TOKENS.alice, { origin: "https://chat.example.com.evil.example" });
    const listed = await wsConnect(url, "alice", TOKENS.alice, { origin: ALLOWED_ORIGIN });
    const none = await wsConnect(url, "bob", TOKENS.bob);
    report(t, "Origin allowlist", { foreign, lookalike, listed, no_origin: none });
    assert.equal(foreign, "http 403", "a foreign Origin is refused");
    assert.equal(lookalike, "http 403", "no substring matches");
    assert.equal(listed, `connack ${ReasonCode.Success}`, "the listed Origin connects");
    assert.equal(none, `connack ${ReasonCode.Success}`, "a client without an Origin (not a browser) connects with its token");
  });

  test("WSS with the generated certificate: trusted it connects, untrusted it is refused", async (t) => {
    const cert = readFileSync(join(server.dataDir, "tls", "cert.pem"));
    const url = server.nodes[0].wssAddr;
    const trusted = await wsConnect(url, "alice", TOKENS.alice, { ca: cert });
    const untrusted = await wsConnect(url, "alice", TOKENS.alice);
    const badToken = await wsConnect(url, "alice", WRONG_TOKEN, { ca: cert });
    report(t, "WSS", { trusted, untrusted, wrong_token_over_wss: badToken });
    assert.equal(trusted, `connack ${ReasonCode.Success}`, "WSS with the generated certificate trusted");
    assert.match(
      untrusted,
      /^error (SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE)/,
      "refused when not trusted",
    );
    assert.equal(badToken, `connack ${ReasonCode.AuthFail}`, "token checked over WSS too");
  });

  test("no token and no API key appears in the logs", async (t) => {
    await sleep(300); // pino writes asynchronously
    const output = server.output();
    const lines = output.split("\n").filter((l) => l.length > 0);
    const secrets = { api_key: API_KEY, alice_token: TOKENS.alice, bob_token: TOKENS.bob, wrong_token: WRONG_TOKEN };
    const found: Record<string, number> = {};
    for (const [name, secret] of Object.entries(secrets)) found[name] = lines.filter((l) => l.includes(secret)).length;
    const refusals = lines.filter((l) => l.includes("CONNECT refused")).length;
    report(t, "secrets in logs", { log_lines: lines.length, connect_refusals_logged: refusals, ...found });
    assert.ok(refusals >= 5, `the refused CONNECTs were logged (${refusals} lines): the scan is not of an empty log`);
    assert.ok(lines.length > 20, `the process logged at debug (${lines.length} lines)`);
    for (const [name, n] of Object.entries(found)) assert.equal(n, 0, `${name} appears in ${n} log lines`);
  });
});
