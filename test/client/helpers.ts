/**
 * Shared pieces of the SDK tests: a client factory for a real test server, waiting helpers, and a
 * transport tap that sits between the SDK and a real connection to watch, drop or cut frames
 * (the server is never faked: the tap only loses bytes the way a network can).
 */
import assert from "node:assert/strict";
import WebSocket from "ws";
import {
  type ClientMessage,
  type ClientOptions,
  SwitchboardClient,
  type TransportFactory,
  type WebSocketConstructor,
  tcpTransport,
  webSocketTransport,
} from "../../src/client/node.js";
import { type Packet, decodePacket, parseFrameHead } from "../../src/protocol/codec.js";
import { LATEST_VERSION } from "../../src/protocol/constants.js";
import type { TestServer } from "../helpers/server.js";
import { untilValue } from "../helpers/wait.js";

export const WS = WebSocket as unknown as WebSocketConstructor;

/** Gives each uid the token `t-<uid>` for the listed device flags. */
export async function registerUsers(sb: TestServer, apiKey: string, uids: string[], deviceFlags = [0]): Promise<void> {
  for (const uid of uids) {
    for (const device_flag of deviceFlags) {
      const res = await sb.post("/user/token", { uid, token: `t-${uid}`, device_flag }, { token: apiKey });
      assert.equal(res.status, 200, `token for ${uid}/${device_flag}: ${JSON.stringify(res.body)}`);
    }
  }
}

/** Makes clients with fast test timings and closes them all in `closeAll`. */
export function clientFactory(sb: () => TestServer, defaults: Partial<ClientOptions> = {}) {
  const made: SwitchboardClient[] = [];
  const make = (uid: string, extra: Partial<ClientOptions> = {}): SwitchboardClient => {
    const c = new SwitchboardClient({
      apiUrl: sb().apiUrl,
      uid,
      token: `t-${uid}`,
      WebSocket: WS,
      backoff: { baseMs: 50, capMs: 400 },
      ...defaults,
      ...extra,
    });
    made.push(c);
    return c;
  };
  return { make, closeAll: () => made.forEach((c) => c.close()) };
}

export function collect(c: SwitchboardClient): ClientMessage[] {
  const got: ClientMessage[] = [];
  c.on("message", (m) => got.push(m));
  return got;
}

/** Waits for the value `check` finds, 10 s by default. */
export const until = <T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> =>
  untilValue(what, check, timeoutMs);

export { sleep } from "../helpers/wait.js";

export interface Seen {
  conn: number;
  packet: Packet;
}

/** What the tap does with a frame from the server. */
export type Verdict = "pass" | "drop" | "kill";

export interface Tap {
  factory: TransportFactory;
  /** Frames the server sent (including dropped ones), and frames the client wrote, by connection number (1, 2, …). */
  received: Seen[];
  sent: Seen[];
  /** How many connections were opened. */
  readonly connections: number;
  onIncoming: (packet: Packet, conn: number) => Verdict;
  onOutgoing: (packet: Packet, conn: number) => "pass" | "drop";
  /** Cuts the current connection as a network failure would. */
  kill(): void;
}

/** Wraps a transport; every frame in both directions is decoded (at the protocol version the SDK uses) and judged. */
export function tap(inner: TransportFactory): Tap {
  let count = 0;
  let current: { close(): void } | undefined;
  const t: Tap = {
    received: [],
    sent: [],
    get connections() {
      return count;
    },
    onIncoming: () => "pass",
    onOutgoing: () => "pass",
    kill: () => current?.close(),
    factory: (addr, handlers) => {
      const conn = ++count;
      let pending = Buffer.alloc(0);
      let killed = false;
      const kill = () => {
        killed = true;
        transport.close();
      };
      const transport = inner(addr, {
        onOpen: () => handlers.onOpen(),
        onClose: (reason) => handlers.onClose(killed ? "cut by the test" : reason),
        onData: (chunk) => {
          pending = Buffer.concat([pending, chunk]);
          let pos = 0;
          for (;;) {
            const head = parseFrameHead(pending, pos, pending.length);
            if (!head || pos + head.headerLength + head.bodyLength > pending.length) break;
            const frame = pending.subarray(pos, pos + head.headerLength + head.bodyLength);
            pos += frame.length;
            const packet = decodePacket(frame, LATEST_VERSION);
            t.received.push({ conn, packet });
            const verdict = t.onIncoming(packet, conn);
            if (verdict === "kill") return kill();
            if (verdict === "pass") handlers.onData(Uint8Array.from(frame));
          }
          pending = pending.subarray(pos);
        },
      });
      const wrapped = {
        write: (bytes: Uint8Array) => {
          const packet = decodePacket(bytes, LATEST_VERSION);
          t.sent.push({ conn, packet });
          if (t.onOutgoing(packet, conn) === "pass") transport.write(bytes);
        },
        close: () => transport.close(),
      };
      current = { close: kill };
      return wrapped;
    },
  };
  return t;
}

export const wsTap = () => tap(webSocketTransport(WS));
export const tcpTap = () => tap(tcpTransport());
