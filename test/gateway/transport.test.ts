// The transport contract, run on every listener kind (tcp, ws, wss) over real loopback sockets.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { type Socket, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import WebSocket from "ws";
import { loadOrCreateCertificate } from "../../src/gateway/tls.js";
import { CLOSE_GRACE_MS, ListenError } from "../../src/gateway/transport-base.js";
import { listenTcp } from "../../src/gateway/transport-tcp.js";
import { listenWs, listenWss } from "../../src/gateway/transport-ws.js";
import type { Connection, ConnectionHandler, Listener, ListenerOptions, TransportKind } from "../../src/gateway/transport.js";
import { sleep, until, within } from "../helpers/wait.js";

const HOST = "127.0.0.1";
/** A backstop: a broken transport makes a test fail, never hang the run. */
const T = { timeout: 20_000 };

const tick = () => new Promise((r) => setImmediate(r));

/** Records everything the listener reports; optionally echoes data back. */
class Recorder implements ConnectionHandler {
  readonly opened: Connection[] = [];
  readonly closes: { conn: Connection; reason: string }[] = [];
  private readonly data = new Map<string, Buffer[]>();
  constructor(private readonly echo = false) {}
  onOpen(conn: Connection): void {
    this.opened.push(conn);
    this.data.set(conn.id, []);
  }
  /** Contract breaches seen in callbacks (an assertion thrown there would only become "handler error"). */
  readonly violations: string[] = [];
  onData(conn: Connection, chunk: Uint8Array): void {
    if (this.closes.some((c) => c.conn === conn)) this.violations.push(`onData after onClose on ${conn.id}`);
    this.data.get(conn.id)?.push(Buffer.from(chunk));
    if (this.echo) conn.write(chunk);
  }
  onClose(conn: Connection, reason: string): void {
    if (!this.opened.includes(conn)) this.violations.push(`onClose without onOpen on ${conn.id}`);
    this.closes.push({ conn, reason });
  }
  bytes(conn: Connection): Buffer {
    return Buffer.concat(this.data.get(conn.id) ?? []);
  }
  closesOf(conn: Connection): string[] {
    return this.closes.filter((c) => c.conn === conn).map((c) => c.reason);
  }
  async nth(n: number): Promise<Connection> {
    await until(`connection #${n + 1}`, () => this.opened.length > n);
    return this.opened[n];
  }
  async closedReason(conn: Connection): Promise<string> {
    await until(`onClose of ${conn.id}`, () => this.closesOf(conn).length > 0);
    return this.closesOf(conn)[0];
  }
}

/** A client of any kind, seen as a byte stream. */
interface Client {
  send(data: Uint8Array): void;
  received(): Buffer;
  end(): void;
  /** Settles when the client sees the connection end; ws kinds report the close code. */
  ended: Promise<{ code?: number; reason?: string }>;
  /** ws kinds: the refusal status when the upgrade was answered with HTTP. */
  refusedStatus?: number;
}

let tlsDir: string;
let cert: { cert: string; key: string };

function tcpClient(port: number): Client {
  const chunks: Buffer[] = [];
  const socket = netConnect(port, HOST);
  socket.on("data", (c) => chunks.push(c));
  socket.on("error", () => {});
  return {
    send: (d) => socket.write(d),
    received: () => Buffer.concat(chunks),
    end: () => socket.end(),
    ended: new Promise((resolve) => socket.on("close", () => resolve({}))),
  };
}

function wsClient(kind: "ws" | "wss", port: number): Client {
  const chunks: Buffer[] = [];
  const ws = new WebSocket(`${kind}://${HOST}:${port}/`, kind === "wss" ? { ca: cert.cert } : {});
  const client: Client = {
    send: (d) => (ws.readyState === WebSocket.OPEN ? ws.send(d) : ws.once("open", () => ws.send(d))),
    received: () => Buffer.concat(chunks),
    // The server may see the connection before the client has read the 101: closing then would abort (1006).
    end: () => (ws.readyState === WebSocket.CONNECTING ? ws.once("open", () => ws.close(1000)) : ws.close(1000)),
    ended: new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() }))),
  };
  ws.on("message", (d: Buffer) => chunks.push(d));
  ws.on("error", () => {});
  ws.on("unexpected-response", (_req, res) => {
    client.refusedStatus = res.statusCode;
    res.resume();
    ws.terminate();
  });
  return client;
}

/** A client that completes the connection (and the upgrade) and then never reads again. */
async function stalledClient(kind: TransportKind, port: number): Promise<Socket> {
  const socket: Socket = kind === "wss" ? tlsConnect({ host: HOST, port, ca: cert.cert }) : netConnect(port, HOST);
  socket.on("error", () => {});
  if (kind === "tcp") {
    socket.pause();
    return socket;
  }
  socket.write(
    `GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  const head = await new Promise<string>((resolve) => socket.once("data", (d: Buffer) => resolve(d.toString("latin1"))));
  assert.match(head, /^HTTP\/1\.1 101 /);
  socket.pause();
  return socket;
}

const listeners: Record<TransportKind, (o: ListenerOptions) => Promise<Listener>> = {
  tcp: listenTcp,
  ws: listenWs,
  wss: (o) => listenWss({ ...o, tls: cert }),
};
const clients: Record<TransportKind, (port: number) => Client> = {
  tcp: tcpClient,
  ws: (port) => wsClient("ws", port),
  wss: (port) => wsClient("wss", port),
};

before(() => {
  tlsDir = mkdtempSync(join(tmpdir(), "switchboard-transport-"));
  cert = loadOrCreateCertificate({ dataDir: tlsDir });
});
after(() => rmSync(tlsDir, { recursive: true, force: true }));

for (const kind of ["tcp", "ws", "wss"] as const) {
  describe(`${kind} transport`, () => {
    const open: Listener[] = [];
    const start = async (handler: ConnectionHandler, extra: Partial<ListenerOptions> = {}) => {
      const l = await listeners[kind]({ host: HOST, port: 0, handler, idPrefix: `t${kind}-`, ...extra });
      open.push(l);
      return l;
    };
    after(async () => {
      await Promise.all(open.map((l) => l.close()));
    });

    test("moves bytes both ways and describes the connection", T, async () => {
      const rec = new Recorder();
      const l = await start(rec);
      assert.equal(l.kind, kind);
      assert.ok(l.port > 0, "a bound port");
      const client = clients[kind](l.port);
      const conn = await rec.nth(0);
      assert.equal(conn.kind, kind);
      assert.equal(conn.remoteAddress, HOST);
      assert.match(conn.id, new RegExp(`^t${kind}-[0-9a-z]+$`));
      client.send(Uint8Array.of(1, 2, 3));
      await until("client bytes", () => rec.bytes(conn).length === 3);
      assert.deepEqual([...rec.bytes(conn)], [1, 2, 3]);
      assert.equal(conn.write(Uint8Array.of(4, 5, 6)), true);
      await until("server bytes", () => client.received().length === 3);
      assert.deepEqual([...client.received()], [4, 5, 6]);
      client.end();
      await rec.closedReason(conn);
    });

    test("data split over several writes or messages arrives as one stream; writeMany keeps order", T, async () => {
      const rec = new Recorder();
      const l = await start(rec);
      const client = clients[kind](l.port);
      const conn = await rec.nth(0);
      const whole = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 251));
      for (const [a, b] of [
        [0, 1],
        [1, 120],
        [120, 300],
      ]) {
        client.send(whole.subarray(a, b));
        await tick();
      }
      await until("all parts", () => rec.bytes(conn).length === whole.length);
      assert.deepEqual(rec.bytes(conn), whole);
      assert.equal(conn.writeMany([Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3), Uint8Array.of(4)]), true);
      await until("writeMany bytes", () => client.received().length === 4);
      assert.deepEqual([...client.received()], [1, 2, 3, 4]);
      client.end();
      await rec.closedReason(conn);
    });

    test("client close: onClose exactly once, later writes and closes are no-ops", T, async () => {
      const rec = new Recorder();
      const l = await start(rec);
      const client = clients[kind](l.port);
      const conn = await rec.nth(0);
      client.end();
      assert.match(await rec.closedReason(conn), kind === "tcp" ? /^client closed$/ : /^client closed \(1000\)$/);
      assert.equal(conn.write(Uint8Array.of(1)), false);
      assert.equal(conn.writeMany([Uint8Array.of(1)]), false);
      conn.close("again");
      conn.destroy("again");
      await sleep(50);
      assert.equal(rec.closesOf(conn).length, 1);
      assert.equal(l.connectionCount(), 0);
      assert.deepEqual(rec.violations, []);
    });

    test("server close flushes queued bytes first, then onClose once with our reason", T, async () => {
      const rec = new Recorder();
      const l = await start(rec);
      const client = clients[kind](l.port);
      const conn = await rec.nth(0);
      const big = Buffer.alloc(512 * 1024, 7);
      assert.equal(conn.write(big), true);
      conn.close("kicked", 4001);
      conn.close("second reason");
      assert.equal(conn.write(Uint8Array.of(1)), false, "no writes once closing");
      const seen = await within(client.ended, "the client to see the end");
      assert.equal(client.received().length, big.length);
      if (kind !== "tcp") assert.deepEqual(seen, { code: 4001, reason: "kicked" });
      assert.equal(await rec.closedReason(conn), "kicked");
      conn.destroy("late");
      await sleep(50);
      assert.deepEqual(rec.closesOf(conn), ["kicked"]);
      assert.deepEqual(rec.violations, []);
    });

    test("destroy: the client sees the end, onClose once with the reason", T, async () => {
      const rec = new Recorder();
      const l = await start(rec);
      const client = clients[kind](l.port);
      const conn = await rec.nth(0);
      conn.destroy("gone");
      conn.destroy("twice");
      const seen = await within(client.ended, "the client to see the end");
      if (kind !== "tcp") assert.equal(seen.code, 1006, "no close frame after destroy");
      assert.equal(await rec.closedReason(conn), "gone");
      await sleep(50);
      assert.deepEqual(rec.closesOf(conn), ["gone"]);
      assert.deepEqual(rec.violations, []);
    });

    test("listener close: every connection ends with 'server shutdown', then nothing is accepted", T, async () => {
      const rec = new Recorder();
      const l = await start(rec);
      const a = clients[kind](l.port);
      const b = clients[kind](l.port);
      await until("two connections", () => l.connectionCount() === 2);
      await l.close();
      assert.equal(l.connectionCount(), 0);
      assert.deepEqual(
        rec.closes.map((c) => c.reason),
        ["server shutdown", "server shutdown"],
      );
      for (const c of [a, b]) {
        const seen = await within(c.ended, "the client to see the end");
        if (kind !== "tcp") assert.equal(seen.code, 1001);
      }
      const late = netConnect(l.port, HOST);
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => late.on("error", resolve));
      assert.equal(err.code, "ECONNREFUSED");
      await l.close(); // idempotent
    });

    test("a client that never reads is closed as a slow consumer; others keep working", T, async () => {
      const cap = 64 * 1024;
      const rec = new Recorder(true);
      const l = await start(rec, { maxWriteBufferBytes: cap });
      const stalled = await stalledClient(kind, l.port);
      const slow = await rec.nth(0);
      const chunk = Buffer.alloc(16 * 1024, 1);
      let written = 0;
      let maxBuffered = 0;
      // The kernel's buffers absorb a few MB first; the bound only keeps a broken cap from looping forever.
      while (slow.write(chunk)) {
        written += chunk.length;
        maxBuffered = Math.max(maxBuffered, slow.bufferedBytes);
        assert.ok(written < 256 * 1024 * 1024, "the cap never triggered");
        await tick();
      }
      assert.ok(written > cap, `closed after only ${written} bytes`);
      assert.ok(maxBuffered <= cap, `buffered ${maxBuffered} > cap ${cap}`);
      assert.equal(await rec.closedReason(slow), "slow consumer");
      const other = clients[kind](l.port);
      other.send(Uint8Array.of(9, 8, 7));
      await until("echo on the other connection", () => other.received().length === 3);
      assert.deepEqual([...other.received()], [9, 8, 7]);
      other.end();
      stalled.destroy();
    });

    test("maxConnections refuses the extra connection, and frees a slot when one closes", T, async () => {
      const rec = new Recorder();
      const l = await start(rec, { maxConnections: 2 });
      const a = clients[kind](l.port);
      clients[kind](l.port);
      await until("two connections", () => l.connectionCount() === 2);
      const extra = clients[kind](l.port);
      await within(extra.ended, "the client to see the end");
      if (kind !== "tcp") assert.equal(extra.refusedStatus, 503);
      assert.equal(rec.opened.length, 2);
      a.end();
      await until("a slot frees", () => l.connectionCount() === 1);
      clients[kind](l.port);
      await until("third accepted", () => rec.opened.length === 3);
      assert.equal(l.connectionCount(), 2);
    });

    test("a handler that throws costs its connection, not the listener", T, async () => {
      const rec = new Recorder(true);
      const handler: ConnectionHandler = {
        onOpen: (c) => rec.onOpen(c),
        onData: (c, chunk) => {
          if (chunk[0] === 0xff) throw new Error("boom");
          rec.onData(c, chunk);
        },
        onClose: (c, reason) => rec.onClose(c, reason),
      };
      const l = await start(handler);
      const bad = clients[kind](l.port);
      const conn = await rec.nth(0);
      bad.send(Uint8Array.of(0xff));
      assert.equal(await rec.closedReason(conn), "handler error");
      const good = clients[kind](l.port);
      good.send(Uint8Array.of(1));
      await until("echo", () => good.received().length === 1);
      good.end();
    });

    test("a port in use is a ListenError naming the port", T, async () => {
      const l = await start(new Recorder());
      await assert.rejects(listeners[kind]({ host: HOST, port: l.port, handler: new Recorder() }), (err: unknown) => {
        assert.ok(err instanceof ListenError, `not a ListenError: ${err}`);
        assert.equal(err.syscallCode, "EADDRINUSE");
        assert.equal(err.port, l.port);
        assert.match(err.message, new RegExp(`${kind} listener on ${HOST}: port ${l.port} is already in use \\(EADDRINUSE\\)`));
        return true;
      });
    });
  });
}

test("connection ids are unique across listeners in the process", T, async () => {
  const rec = new Recorder();
  const a = await listenTcp({ host: HOST, port: 0, handler: rec, idPrefix: "n-" });
  const b = await listenWs({ host: HOST, port: 0, handler: rec, idPrefix: "n-" });
  const cs = [tcpClient(a.port), wsClient("ws", b.port), tcpClient(a.port), wsClient("ws", b.port)];
  await until("four connections", () => rec.opened.length === 4);
  assert.equal(new Set(rec.opened.map((c) => c.id)).size, 4);
  for (const c of cs) c.end();
  await Promise.all([a.close(), b.close()]);
  assert.equal(rec.closes.length, 4);
});

test("shutdown completes even when clients stop reading with data still queued", T, async () => {
  const rec = new Recorder();
  const all = await Promise.all((["tcp", "ws", "wss"] as const).map((kind) => listeners[kind]({ host: HOST, port: 0, handler: rec })));
  const stalled = await Promise.all(all.map((l) => stalledClient(l.kind, l.port)));
  try {
    await until("three connections", () => rec.opened.length === 3);
    const chunk = Buffer.alloc(64 * 1024, 3);
    for (const conn of rec.opened) {
      // Fill the kernel's buffers until bytes wait in ours: a graceful flush can then never finish.
      while (conn.bufferedBytes < 256 * 1024) {
        assert.ok(conn.write(chunk), "under the default cap");
        await tick();
      }
    }
    await within(Promise.all(all.map((l) => l.close())), "listeners to close", 3 * CLOSE_GRACE_MS);
    assert.deepEqual(
      rec.closes.map((c) => c.reason),
      ["server shutdown", "server shutdown", "server shutdown"],
    );
  } finally {
    for (const s of stalled) s.destroy();
  }
});
