/**
 * Fault test: hostile input against a running `switchboard serve` process (--send-rate 50,
 * --max-frame-bytes 64 KiB): fuzzed frames on live TCP connections (before and after CONNECT),
 * oversized frames on TCP and WebSocket, slowloris on the WebSocket listener (and, at full scale, on
 * the router API), an upgrade with thousands of headers, a SEND flood, and hostile HTTP bodies.
 * After each group a good pair (alice -> bob) still chats and /health answers 200. The decoder's own
 * property fuzz (test/protocol/fuzz.test.ts) runs at ≥ 1M inputs from `npm run test:faults`.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import {
  LATEST_VERSION,
  PacketType,
  ReasonCode,
  encodePing,
  encodeRecvack,
  encodeSend,
  encodeSub,
  recvackFor,
} from "../../src/protocol/index.js";
import { HTTP_HEADERS_TIMEOUT_MS } from "../../src/router/http-server.js";
import { sleep } from "../helpers/wait.js";
import { CountingClient } from "../helpers/wk/counting-client.js";
import { connectFrame as connectPacketFrame, frameHeader, sendPacket } from "../helpers/wk/packets.js";
import { Wire } from "../helpers/wk/wire.js";
import { type ServeProcess, alive, startServeProcess } from "./helpers/procs.js";
import { SCALE, mib, report, scaled } from "./helpers/report.js";

const MAX_FRAME = 64 * 1024;
const SEND_RATE = 50;
const FUZZ_CONNECTIONS = Number(process.env.FAULT_FUZZ_CONNECTIONS ?? scaled(200, 4_000));
const FRAMES_PER_CONNECTION = scaled(10, 100);
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_501);

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with FUZZ_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const connectFrame = (uid: string, token: string) => connectPacketFrame({ uid, token, deviceId: `${uid}-fz` });

/** A valid frame of some kind, then 0-4 byte mutations, or plain random bytes. */
function fuzzFrame(rnd: () => number): Uint8Array {
  const int = (n: number) => Math.floor(rnd() * n);
  const str = (n: number) => Array.from({ length: int(n) }, () => String.fromCharCode(int(256))).join("");
  const bytes = (n: number) => Uint8Array.from({ length: int(n) }, () => int(256));
  if (rnd() < 0.25) return bytes(64);
  const kind = int(5);
  let frame: Uint8Array =
    kind === 0
      ? encodePing()
      : kind === 1
        ? encodeRecvack(recvackFor({ messageId: int(1e9), messageSeq: int(1e6) }), LATEST_VERSION)
        : kind === 2
          ? encodeSub(
              { type: PacketType.SUB, setting: 0, subNo: str(8), channelId: str(8), channelType: int(256), action: int(2), param: "" },
              LATEST_VERSION,
            )
          : kind === 3
            ? connectFrame(str(12), str(8))
            : encodeSend(
                sendPacket({
                  dup: rnd() < 0.5,
                  clientSeq: int(1e6),
                  clientMsgNo: str(16),
                  channelId: str(12),
                  channelType: int(4),
                  msgKey: str(32),
                  payload: bytes(128),
                }),
                LATEST_VERSION,
              );
  for (let m = int(5); m > 0; m--) {
    const at = int(frame.length + 1);
    const op = int(4);
    if (op === 0 && at < frame.length) frame[at] ^= 1 + int(255);
    else if (op === 1) frame = Buffer.concat([frame.subarray(0, at), Uint8Array.of(int(256)), frame.subarray(at)]);
    else if (op === 2) frame = Buffer.concat([frame.subarray(0, at), frame.subarray(at + 1 + int(8))]);
    else if (op === 3) frame = frame.subarray(0, at);
  }
  return frame;
}

/** A raw TCP connection that records what the server sends (decoding stops at bytes it refuses) and whether it closed. */
const rawTcp = (addr: string) => Wire.open(addr, { keepOnDecodeError: true });

describe("fault: hostile input against a running server", { timeout: scaled(120_000, 900_000) }, () => {
  let server: ServeProcess;
  let tcp: string;
  let ws: string;
  let alice: CountingClient;
  let bob: CountingClient;
  let probes = 0;

  /** The good pair still chats and the process is healthy. */
  const stillServing = async (after: string) => {
    assert.ok(alive(server.child), `the server process survived ${after}`);
    const ack = await alice.send("bob", 1, `still here after ${after} (${++probes})`, { timeoutMs: 10_000 });
    assert.equal(ack.reasonCode, ReasonCode.Success, `alice's message after ${after} stored`);
    await bob.waitFor(`alice's message after ${after}`, () => bob.shown.has(ack.messageId), 10_000);
    assert.equal((await server.get("/health")).status, 200, `/health after ${after}`);
  };

  before(async () => {
    server = await startServeProcess(["--api-key", "off", "--send-rate", String(SEND_RATE), "--max-frame-bytes", String(MAX_FRAME)]);
    tcp = server.nodes[0].tcpAddr;
    ws = server.nodes[0].wsAddr;
    for (const uid of ["alice", "bob", "flooder"]) await server.post("/user/token", { uid, token: `tok-${uid}` });
    alice = new CountingClient({ uid: "alice", token: "tok-alice", addr: () => tcp });
    bob = new CountingClient({ uid: "bob", token: "tok-bob", addr: () => tcp });
    await Promise.all([alice.start(), bob.start()]);
  });
  after(async () => {
    alice?.close();
    bob?.close();
    await server?.stop();
  });

  test(`fuzzed frames on ${FUZZ_CONNECTIONS} live TCP connections (seed ${SEED})`, async (t) => {
    const rnd = prng(SEED);
    const rssBefore = server.rss();
    // Half fuzz from the first byte, half after a successful CONNECT (tokens for those).
    const loggedIn = Array.from({ length: Math.ceil(FUZZ_CONNECTIONS / 2) }, (_, i) => `fz-${i}`);
    for (let i = 0; i < loggedIn.length; i += 50)
      await Promise.all(loggedIn.slice(i, i + 50).map((uid) => server.post("/user/token", { uid, token: `tok-${uid}` })));
    const tally = { frames: 0, connacks: 0, closedWithDisconnect: 0, closedRefused: 0, closedSilently: 0, leftOpen: 0 };
    const reasons = new Map<number, number>();
    const one = async (i: number) => {
      const c = await rawTcp(tcp);
      if (i % 2 === 1) {
        const uid = loggedIn[(i - 1) / 2];
        c.write(connectFrame(uid, `tok-${uid}`));
        await c.waitFor("CONNACK", () => c.connack, 5_000).catch(() => undefined);
        if (c.packets.some((p) => p.type === PacketType.CONNACK && p.reasonCode === ReasonCode.Success)) tally.connacks++;
      }
      for (let f = 0; f < FRAMES_PER_CONNECTION && !c.closed; f++) {
        c.write(fuzzFrame(rnd));
        tally.frames++;
        await new Promise((r) => setImmediate(r));
      }
      const closed = await c.closedWithin(500);
      const disconnect = c.packets.find((p) => p.type === PacketType.DISCONNECT);
      const refused = c.packets.find((p) => p.type === PacketType.CONNACK && p.reasonCode !== ReasonCode.Success);
      if (!closed) tally.leftOpen++;
      else if (disconnect && disconnect.type === PacketType.DISCONNECT) {
        tally.closedWithDisconnect++;
        reasons.set(disconnect.reasonCode, (reasons.get(disconnect.reasonCode) ?? 0) + 1);
      } else if (refused) tally.closedRefused++;
      else tally.closedSilently++;
      c.close();
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < FUZZ_CONNECTIONS) await one(next++);
      }),
    );
    await stillServing("the fuzz");
    report(t, "live protocol fuzz over TCP", {
      seed: SEED,
      connections: FUZZ_CONNECTIONS,
      frames: tally.frames,
      logged_in_first: tally.connacks,
      closed_with_disconnect: tally.closedWithDisconnect,
      disconnect_reasons: [...reasons].map(([r, n]) => `${r}x${n}`).join(","),
      closed_by_refused_connack: tally.closedRefused,
      closed_without_packet: tally.closedSilently,
      still_open_after_all_frames: tally.leftOpen,
      rss_before_mib: mib(rssBefore),
      rss_after_mib: mib(server.rss()),
    });
    assert.ok(tally.frames >= FUZZ_CONNECTIONS, `every connection sent fuzz (${tally.frames} frames)`);
  });

  test("oversized frames: TCP length prefix and body, WebSocket message, are refused at once", async (t) => {
    const results: Record<string, string> = {};
    // A logged-in TCP client claims a SEND of limit + 1 bytes: refused on the header alone.
    const claim = await rawTcp(tcp);
    await server.post("/user/token", { uid: "big", token: "tok-big" });
    claim.write(connectFrame("big", "tok-big"));
    await sleep(300);
    const remaining = MAX_FRAME + 1;
    const header = frameHeader(PacketType.SEND, remaining);
    claim.write(header);
    assert.ok(await claim.closedWithin(3_000), "a claimed oversized frame is closed without waiting for its body");
    const d1 = claim.packets.find((p) => p.type === PacketType.DISCONNECT);
    results.tcp_claimed = d1 && d1.type === PacketType.DISCONNECT ? `DISCONNECT ${d1.reasonCode}` : "closed";
    // A whole frame over the limit before CONNECT.
    const whole = await rawTcp(tcp);
    whole.write(Buffer.concat([header, Buffer.alloc(remaining, 7)]));
    assert.ok(await whole.closedWithin(3_000), "a whole oversized frame is closed");
    results.tcp_whole = whole.packets.map((p) => p.type).join(",") || "closed";
    // The maximum varint length (256 MiB).
    const huge = await rawTcp(tcp);
    huge.write(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0x7f));
    assert.ok(await huge.closedWithin(3_000), "a 256 MiB length prefix is closed");
    results.tcp_varint_max = huge.packets.map((p) => p.type).join(",") || "closed";
    // WebSocket: a binary message over maxFrameBytes closes with 1009.
    const sock = new WebSocket(ws);
    await new Promise<void>((resolve, reject) => {
      sock.once("open", () => resolve());
      sock.once("error", reject);
    });
    const code = await new Promise<number>((resolve) => {
      sock.once("close", (c) => resolve(c));
      sock.on("error", () => {});
      sock.send(Buffer.alloc(MAX_FRAME + 2048, 1));
    });
    results.ws_message = `close ${code}`;
    assert.equal(code, 1009, "an oversized WebSocket message closes with 1009 (message too big)");
    await stillServing("oversized frames");
    report(t, "oversized frames", results);
  });

  test("slowloris on the WebSocket listener is cut off by its headers timeout", async (t) => {
    const [host, port] = ws.replace("ws://", "").split(":");
    const start = Date.now();
    const socket = net.connect({ host, port: Number(port) });
    socket.on("error", () => {});
    await new Promise((r) => socket.once("connect", r));
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n");
    let answer = "";
    socket.on("data", (d) => {
      answer += d.toString();
    });
    let dribbled = 0;
    const timer = setInterval(() => {
      if (!socket.destroyed) {
        socket.write("X");
        dribbled++;
      }
    }, 250);
    const closed = await Promise.race([new Promise((r) => socket.once("close", () => r(true))), sleep(15_000).then(() => false)]);
    clearInterval(timer);
    socket.destroy();
    const ms = Date.now() - start;
    report(t, "slowloris (WebSocket listener)", {
      bytes_dribbled: dribbled,
      cut_off_ms: ms,
      answer: JSON.stringify(answer.split("\r\n")[0]),
    });
    assert.ok(closed, "the server closed the dribbling connection");
    assert.ok(ms < 8_000, `cut off by the 5 s headers timeout (after ${ms} ms)`);
    await stillServing("slowloris");
  });

  test("slowloris on the router API is cut off by its 10 s headers timeout", {}, async (t) => {
    const api = new URL(server.apiUrl);
    const start = Date.now();
    const socket = net.connect({ host: api.hostname, port: Number(api.port) });
    socket.on("error", () => {});
    socket.resume(); // read (and drop) the answer, or the end of the stream and "close" never come
    await new Promise((r) => socket.once("connect", r));
    socket.write("GET /health HTTP/1.1\r\nHost: x\r\n");
    const timer = setInterval(() => socket.destroyed || socket.write("X"), 500);
    const closed = await Promise.race([new Promise((r) => socket.once("close", () => r(true))), sleep(45_000).then(() => false)]);
    clearInterval(timer);
    socket.destroy();
    const ms = Date.now() - start;
    report(t, "slowloris (router API)", { cut_off_ms: ms, closed: Boolean(closed) });
    assert.ok(closed, "the API closed the dribbling connection");
    assert.ok(ms < HTTP_HEADERS_TIMEOUT_MS + 2_000, `cut off by the ${HTTP_HEADERS_TIMEOUT_MS} ms headers timeout (after ${ms} ms)`);
  });

  test("a WebSocket upgrade with thousands of headers is refused", async (t) => {
    const [host, port] = ws.replace("ws://", "").split(":");
    const upgrade =
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    const ask = async (headers: string) => {
      const socket = net.connect({ host, port: Number(port) });
      socket.on("error", () => {});
      let answer = "";
      socket.on("data", (d) => {
        answer += d.toString();
      });
      await new Promise((r) => socket.once("connect", r));
      socket.write(`${upgrade}${headers}\r\n`);
      await Promise.race([new Promise((r) => socket.once("close", r)), sleep(5_000)]);
      socket.destroy();
      return answer.split("\r\n")[0];
    };
    const byCount = await ask(Array.from({ length: 2_000 }, () => "a: b\r\n").join(""));
    const bySize = await ask(Array.from({ length: 3_000 }, (_, i) => `x-h-${i}: v\r\n`).join(""));
    const api = new URL(server.apiUrl);
    const apiSocket = net.connect({ host: api.hostname, port: Number(api.port) });
    apiSocket.on("error", () => {});
    let apiAnswer = "";
    apiSocket.on("data", (d) => {
      apiAnswer += d.toString();
    });
    await new Promise((r) => apiSocket.once("connect", r));
    apiSocket.write(`GET /health HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 2_000 }, (_, i) => `x-${i}: v\r\n`).join("")}\r\n`);
    await Promise.race([new Promise((r) => apiSocket.once("close", r)), sleep(3_000)]);
    apiSocket.destroy();
    report(t, "header floods", {
      ws_2000_small_headers: JSON.stringify(byCount),
      ws_3000_headers_40kb: JSON.stringify(bySize),
      api_2000_headers: JSON.stringify(apiAnswer.split("\r\n")[0]),
    });
    assert.match(byCount, /^HTTP\/1\.1 431 /, "2,000 headers within the size limit: refused by count");
    assert.match(bySize, /^HTTP\/1\.1 431 /, "3,000 headers: refused");
    assert.match(apiAnswer, /^HTTP\/1\.1 [24]\d\d /, "the API answers a header flood without a 5xx");
    await stillServing("header floods");
  });

  test("a SEND flood gets RateLimit acks, then a disconnect; only acknowledged sends are stored", async (t) => {
    const flooder = new CountingClient({ uid: "flooder", token: "tok-flooder", addr: () => tcp });
    await flooder.start();
    const count = scaled(600, 3_000);
    const results = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        flooder.send("bob", 1, `flood ${i}`, { timeoutMs: 10_000 }).then(
          (r) => r.reasonCode,
          () => -1,
        ),
      ),
    );
    await flooder.waitFor("the disconnect", () => !flooder.isOpen, 10_000);
    const ok = results.filter((r) => r === ReasonCode.Success).length;
    const limited = results.filter((r) => r === ReasonCode.RateLimit).length;
    const unanswered = results.filter((r) => r === -1).length;
    const stored = (await server.get("/channel/max_message_seq?channel_id=bob&channel_type=1&login_uid=flooder")).body
      .message_seq as number;
    report(t, "SEND flood", {
      sends: count,
      send_rate: SEND_RATE,
      acked_ok: ok,
      acked_rate_limit: limited,
      unanswered_after_disconnect: unanswered,
      disconnect_reason: flooder.disconnects.join(","),
      stored,
    });
    assert.ok(limited > 0, `RateLimit SENDACKs came first (${limited})`);
    assert.deepEqual(flooder.disconnects, [ReasonCode.RateLimit], "then DISCONNECT with reason RateLimit");
    assert.ok(stored >= ok && stored <= ok + unanswered, `stored ${stored}: every acknowledged send, nothing refused`);
    flooder.close();
    await stillServing("the SEND flood");
  });

  test("hostile HTTP bodies: huge (413), deeply nested JSON (400), not JSON (400); never a 5xx", async (t) => {
    const post = async (path: string, body: BodyInit, init: RequestInit = {}) => {
      const res = await fetch(`${server.apiUrl}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        ...init,
      });
      await res.arrayBuffer();
      return res.status;
    };
    const huge = `{"channel_id":"bob","channel_type":1,"payload":"${"A".repeat(3 * 2 ** 20)}"}`;
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 48; i++) controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
        controller.close();
      },
    });
    const depth = 200_000;
    const cases: [string, () => Promise<number>, number][] = [
      ["3 MiB body with Content-Length", () => post("/message/send", huge), 413],
      ["3 MiB body chunked (no length)", () => post("/message/send", chunked, { duplex: "half" } as RequestInit), 413],
      ["arrays nested 200,000 deep to /route/batch", () => post("/route/batch", `${"[".repeat(depth)}${"]".repeat(depth)}`), 400],
      ["objects nested 200,000 deep to /message/send", () => post("/message/send", `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`), 400],
      ["not JSON", () => post("/message/send", "this is not json"), 400],
      ["truncated JSON", () => post("/route/batch", '["a", "b"'), 400],
      ["empty body", () => post("/user/token", ""), 400],
      ["JSON of the wrong shape", () => post("/route/batch", '{"uids": "a"}'), 400],
    ];
    const figures: Record<string, number> = {};
    for (const [name, run, want] of cases) {
      const status = await run().catch((err: unknown) => {
        throw new Error(`${name}: the request failed: ${String(err)} (${String((err as Error).cause)})`);
      });
      figures[name.replace(/[^a-z0-9]+/gi, "_").toLowerCase()] = status;
      assert.equal(status, want, `${name}: ${want}`);
    }
    report(t, "hostile HTTP bodies", figures);
    await stillServing("hostile HTTP bodies");
  });
});
