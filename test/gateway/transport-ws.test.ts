// What only the WebSocket listeners do: upgrade checks, HTTP-level limits, binary-only, message caps, TLS trust.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { get as httpGet } from "node:http";
import { get as httpsGet } from "node:https";
import { type Socket, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import WebSocket from "ws";
import { loadOrCreateCertificate } from "../../src/gateway/tls.js";
import { CLOSE_GRACE_MS } from "../../src/gateway/transport-base.js";
import { listenWs, listenWss } from "../../src/gateway/transport-ws.js";
import type { Connection, ConnectionHandler, Listener, ListenerOptions } from "../../src/gateway/transport.js";
import { InvalidArgumentError } from "../../src/util/errors.js";
import { sleep, until, within } from "../helpers/wait.js";

const HOST = "127.0.0.1";
const WAIT_MS = 5_000;
/** A backstop: a broken transport makes a test fail, never hang the run. */
const T = { timeout: 20_000 };

/** Echoes every chunk back and records opens and closes. */
class Echo implements ConnectionHandler {
  readonly opened: Connection[] = [];
  readonly closes = new Map<string, string[]>();
  readonly received: Buffer[] = [];
  onOpen(conn: Connection): void {
    this.opened.push(conn);
  }
  onData(conn: Connection, chunk: Uint8Array): void {
    this.received.push(Buffer.from(chunk));
    conn.write(chunk);
  }
  onClose(conn: Connection, reason: string): void {
    this.closes.set(conn.id, [...(this.closes.get(conn.id) ?? []), reason]);
  }
  async onlyCloseOf(conn: Connection): Promise<string> {
    await until("onClose", () => this.closes.has(conn.id));
    await sleep(30);
    const reasons = this.closes.get(conn.id) ?? [];
    assert.equal(reasons.length, 1, `onClose ran ${reasons.length} times`);
    return reasons[0];
  }
}

let dataDir: string;
let cert: { cert: string; key: string };
before(() => {
  dataDir = mkdtempSync(join(tmpdir(), "switchboard-transport-ws-"));
  cert = loadOrCreateCertificate({ dataDir });
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

type Outcome = { status: 101; ws: WebSocket; messages: Buffer[]; closed: Promise<{ code: number; reason: string }> } | { status: number };

/** Try an upgrade; resolves with the open socket (101) or the HTTP status it was refused with. */
function tryUpgrade(kind: "ws" | "wss", port: number, path = "/", opts: WebSocket.ClientOptions = {}): Promise<Outcome> {
  const ws = new WebSocket(`${kind}://${HOST}:${port}${path}`, { ...opts, ca: cert.cert });
  const messages: Buffer[] = [];
  ws.on("message", (d: Buffer) => messages.push(d));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const outcome = new Promise<Outcome>((resolve, reject) => {
    ws.on("open", () => resolve({ status: 101, ws, messages, closed }));
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      ws.terminate();
      resolve({ status: res.statusCode ?? 0 });
    });
    ws.on("error", reject);
  });
  return within(outcome, `the upgrade of ${path}`);
}

async function opened(kind: "ws" | "wss", port: number, path = "/", opts: WebSocket.ClientOptions = {}) {
  const o = await tryUpgrade(kind, port, path, opts);
  assert.equal(o.status, 101);
  return o as Extract<Outcome, { status: 101 }>;
}

/** Send raw bytes, collect the whole response until the server closes. */
function raw(kind: "ws" | "wss", port: number, request: string): Promise<string> {
  const socket: Socket = kind === "wss" ? tlsConnect({ host: HOST, port, ca: cert.cert }) : netConnect(port, HOST);
  const chunks: Buffer[] = [];
  socket.on("data", (d) => chunks.push(d));
  socket.on("error", () => {});
  socket.write(request);
  // A server that wrongly keeps the connection open yields what it sent so far (the assertion says the rest).
  const timer = setTimeout(() => socket.destroy(), WAIT_MS);
  return new Promise((resolve) =>
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    }),
  );
}

const UPGRADE_HEADERS =
  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/** The listener still upgrades and echoes. */
async function assertServes(kind: "ws" | "wss", port: number): Promise<void> {
  const c = await opened(kind, port);
  c.ws.send(Uint8Array.of(42));
  await until("echo", () => c.messages.length > 0);
  assert.deepEqual([...c.messages[0]], [42]);
  c.ws.close();
  await within(c.closed, "the close");
}

for (const kind of ["ws", "wss"] as const) {
  describe(`${kind} listener`, () => {
    const open: Listener[] = [];
    const start = async (handler: ConnectionHandler, extra: Partial<ListenerOptions> = {}) => {
      const listen = kind === "wss" ? listenWss : listenWs;
      const l = await listen({ host: HOST, port: 0, handler, tls: cert, ...extra });
      open.push(l);
      return l;
    };
    after(async () => {
      await Promise.all(open.map((l) => l.close()));
    });

    test("upgrades only on wsPath (query allowed); other paths get 404", T, async () => {
      const l = await start(new Echo(), { wsPath: "/ws" });
      assert.equal((await tryUpgrade(kind, l.port, "/")).status, 404);
      assert.equal((await tryUpgrade(kind, l.port, "/wsx")).status, 404);
      const ok = await opened(kind, l.port, "/ws?uid=1");
      ok.ws.close();
      await within(ok.closed, "the close");
    });

    test("Origin allowlist: listed (any case) and absent pass, others get 403", T, async () => {
      const echo = new Echo();
      const l = await start(echo, { allowedOrigins: ["https://app.example.com"] });
      assert.equal((await tryUpgrade(kind, l.port, "/", { origin: "https://evil.example.com" })).status, 403);
      assert.equal((await tryUpgrade(kind, l.port, "/", { origin: "https://app.example.com.evil.net" })).status, 403);
      for (const origin of ["https://app.example.com", "https://APP.example.com", undefined]) {
        const c = await opened(kind, l.port, "/", origin ? { origin } : {});
        c.ws.close();
        await within(c.closed, "the close");
      }
      assert.equal(echo.opened.length, 3);
    });

    test("a plain HTTP request gets 426 with a short text body", T, async () => {
      const l = await start(new Echo());
      const get = kind === "wss" ? httpsGet : httpGet;
      const res = await new Promise<{ status?: number; upgrade?: string; body: string }>((resolve, reject) => {
        get({ host: HOST, port: l.port, path: "/", ca: cert.cert }, (r) => {
          let body = "";
          r.on("data", (d) => {
            body += d;
          });
          r.on("end", () => resolve({ status: r.statusCode, upgrade: r.headers.upgrade, body }));
        }).on("error", reject);
      });
      assert.equal(res.status, 426);
      assert.equal(res.upgrade, "websocket");
      assert.match(res.body, /WebSocket/);
      assert.ok(res.body.length < 200, `body of ${res.body.length} characters`);
    });

    test("a text message closes the connection with 1003", T, async () => {
      const echo = new Echo();
      const l = await start(echo);
      const c = await opened(kind, l.port);
      c.ws.send("hello");
      assert.deepEqual(await within(c.closed, "the close"), { code: 1003, reason: "binary frames only" });
      assert.equal(await echo.onlyCloseOf(echo.opened[0]), "binary frames only");
      assert.deepEqual(echo.received, []);
    });

    test("a message over maxFrameBytes closes with 1009; one at the limit passes", T, async () => {
      const echo = new Echo();
      const l = await start(echo, { maxFrameBytes: 1024 });
      const c = await opened(kind, l.port);
      c.ws.send(Buffer.alloc(1024, 1));
      await until("echo of the full-size message", () => c.messages.length === 1);
      c.ws.send(Buffer.alloc(1025, 2));
      assert.equal((await within(c.closed, "the close")).code, 1009);
      assert.match(await echo.onlyCloseOf(echo.opened[0]), /^protocol error: Max payload size exceeded/);
      await assertServes(kind, l.port);
    });

    test("a message in too many fragments is refused with 1008", T, async () => {
      const echo = new Echo();
      const l = await start(echo);
      const c = await opened(kind, l.port);
      for (let i = 0; i < 100; i++) c.ws.send(Uint8Array.of(i), { fin: false });
      c.ws.send(Uint8Array.of(0), { fin: true });
      assert.equal((await within(c.closed, "the close")).code, 1008);
      assert.match(await echo.onlyCloseOf(echo.opened[0]), /^protocol error: Too many message fragments/);
      assert.deepEqual(echo.received, []);
    });

    test("writeMany glues frames into messages no larger than maxFrameBytes", T, async () => {
      const echo = new Echo();
      const l = await start(echo, { maxFrameBytes: 1024 });
      const c = await opened(kind, l.port);
      const conn = echo.opened[0];
      const frames = Array.from({ length: 5 }, (_, i) => Buffer.alloc(400, i));
      assert.equal(conn.writeMany(frames.slice(0, 2)), true);
      await until("one message", () => c.messages.length === 1);
      assert.deepEqual(c.messages[0], Buffer.concat(frames.slice(0, 2)));
      assert.equal(conn.writeMany(frames), true);
      await until("the rest", () => Buffer.concat(c.messages.slice(1)).length === 2000);
      assert.deepEqual(Buffer.concat(c.messages.slice(1)), Buffer.concat(frames));
      assert.ok(c.messages.length > 2, `${c.messages.length} messages`);
      for (const m of c.messages) assert.ok(m.length <= 1024, `message of ${m.length} bytes`);
      c.ws.close();
      await within(c.closed, "the close");
    });

    test("shutdown does not wait for a half-sent request or an unfinished TLS handshake", T, async () => {
      const l = await start(new Echo());
      const lingering = netConnect(l.port, HOST);
      lingering.on("error", () => {});
      try {
        // On wss this never starts TLS; on ws it is a request whose headers never end. Node stops its
        // header-timeout checks once the server is closing, so without help these would block close() forever.
        await new Promise((resolve) => lingering.on("connect", resolve));
        if (kind === "ws") lingering.write("GET / HTTP/1.1\r\nHost: x\r\n");
        const ended = new Promise((resolve) => lingering.on("close", resolve));
        await within(l.close(), "close() without waiting for header or handshake timeouts", CLOSE_GRACE_MS);
        await within(ended, "the lingering socket to be dropped");
      } finally {
        lingering.destroy();
      }
    });

    test("an upgrade with 3,000 headers is refused and the server keeps serving", T, async () => {
      const l = await start(new Echo());
      const many = Array.from({ length: 3000 }, (_, i) => `x-h-${i}: v\r\n`).join("");
      const res = await raw(kind, l.port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\n${UPGRADE_HEADERS}${many}\r\n`);
      assert.match(res, /^HTTP\/1\.1 431 /);
      await assertServes(kind, l.port);
    });

    test("an upgrade whose headers fit in size but not in count is refused, not truncated", T, async () => {
      const l = await start(new Echo());
      const many = Array.from({ length: 200 }, () => "a: b\r\n").join("");
      const res = await raw(kind, l.port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\n${UPGRADE_HEADERS}${many}\r\n`);
      assert.match(res, /^HTTP\/1\.1 431 /);
      assert.match(await raw(kind, l.port, "GET / HTTP/1.1\r\nthis is not a header\r\n\r\n"), /^HTTP\/1\.1 400 /);
      await assertServes(kind, l.port);
    });
  });
}

test("wss: a client trusting the generated certificate connects; one that does not is refused", T, async () => {
  const echo = new Echo();
  const l = await listenWss({ host: HOST, port: 0, handler: echo, tls: cert });
  try {
    await assertServes("wss", l.port);
    const untrusting = new WebSocket(`wss://${HOST}:${l.port}/`);
    const err = await new Promise<Error & { code?: string }>((resolve) => untrusting.on("error", resolve));
    assert.equal(err.code, "DEPTH_ZERO_SELF_SIGNED_CERT");
    await assertServes("wss", l.port);
    assert.equal(echo.opened.length, 2);
  } finally {
    await l.close();
  }
});

test("wss without tls options is refused up front", T, async () => {
  await assert.rejects(listenWss({ host: HOST, port: 0, handler: new Echo() }), InvalidArgumentError);
});
