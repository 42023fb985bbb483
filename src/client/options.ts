/**
 * The client's one options object: defaults as DEFAULT_* constants, filled and checked in one
 * place (resolveOptions), so a setting that cannot work fails in the constructor, not later.
 */
import { InvalidOptionError } from "./errors.js";
import { type TransportFactory, type WebSocketConstructor, webSocketTransport } from "./transport.js";

/** The logging surface the client uses (pino's call shape, so a pino logger fits). Never required. */
export interface ClientLogger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface ClientOptions {
  /** Router API base URL, e.g. http://127.0.0.1:5001: `GET /route` and the sync endpoints. */
  apiUrl: string;
  uid: string;
  /** The connect token (set with POST /user/token); also authenticates the sync requests. */
  token: string;
  /** WuKongIM device flag: 0 app, 1 web, 2 pc. */
  deviceFlag?: number;
  /** Sent in CONNECT; random per client by default. */
  deviceId?: string;
  /** Which address of the route answer to dial. "tcp" needs `connect: tcpTransport()` (Node only). */
  transport?: "ws" | "wss" | "tcp";
  /** Opens connections; defaults to WebSocket (the global one, or `WebSocket` below). */
  connect?: TransportFactory;
  /** A WebSocket constructor for Node (the `ws` package); browsers have a global one. */
  WebSocket?: WebSocketConstructor;
  /** Full-jitter exponential backoff between reconnects: a random delay in [0, min(cap, base·2^attempt)). */
  backoff?: { baseMs?: number; capMs?: number };
  /** Route lookup, transport open and CONNACK must each finish within this; HTTP sync requests too. */
  connectTimeoutMs?: number;
  /** A PING every this often while connected. */
  heartbeatMs?: number;
  /** Nothing from the server for this long after a PING: the connection is dropped and redialled. */
  pongTimeoutMs?: number;
  /** A SEND without SENDACK for this long is written again (same client_msg_no, DUP set). */
  resendMs?: number;
  /** Sync missed messages over HTTP after every connect (and to repair gaps). Default true. */
  sync?: boolean;
  /** Channels this client has not seen yet are synced from this many messages back. */
  syncInitialLimit?: number;
  /** A live message skipped seqs: if they are still missing after this long, sync fills them in. */
  gapSyncMs?: number;
  fetch?: typeof fetch;
  /** In [0, 1): the jitter source (tests pass a fixed one). */
  random?: () => number;
  logger?: ClientLogger;
}

export const DEFAULT_BACKOFF = { baseMs: 500, capMs: 15_000 } as const;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** WuKongIM's SDK pings every 60 s against a 3 min server idle timeout; we ping twice as often. */
export const DEFAULT_HEARTBEAT_MS = 30_000;
export const DEFAULT_PONG_TIMEOUT_MS = 10_000;
export const DEFAULT_RESEND_MS = 5_000;
export const DEFAULT_SYNC_INITIAL_LIMIT = 20;
export const DEFAULT_GAP_SYNC_MS = 1_000;

export interface ResolvedOptions {
  apiUrl: string;
  uid: string;
  token: string;
  deviceFlag: number;
  deviceId: string;
  transport: "ws" | "wss" | "tcp";
  open: TransportFactory;
  backoff: { baseMs: number; capMs: number };
  connectTimeoutMs: number;
  heartbeatMs: number;
  pongTimeoutMs: number;
  resendMs: number;
  sync: boolean;
  syncInitialLimit: number;
  gapSyncMs: number;
  fetch: typeof fetch;
  random: () => number;
  logger: ClientLogger;
}

const noop = () => {};
export const silentClientLogger: ClientLogger = { debug: noop, info: noop, warn: noop, error: noop };

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw new InvalidOptionError(name, `must be a positive number of milliseconds, got ${value}`);
  return v;
}

export function resolveOptions(o: ClientOptions): ResolvedOptions {
  if (typeof o.apiUrl !== "string" || !/^https?:\/\/./i.test(o.apiUrl)) throw new InvalidOptionError("apiUrl", "must be an http(s) URL");
  if (typeof o.uid !== "string" || o.uid === "") throw new InvalidOptionError("uid", "must be a non-empty string");
  if (typeof o.token !== "string") throw new InvalidOptionError("token", "must be a string");
  const deviceFlag = o.deviceFlag ?? 0;
  if (!Number.isInteger(deviceFlag) || deviceFlag < 0 || deviceFlag > 255) throw new InvalidOptionError("deviceFlag", "must be 0..255");
  const transport = o.transport ?? "ws";
  if (!["ws", "wss", "tcp"].includes(transport)) throw new InvalidOptionError("transport", `must be "ws", "wss" or "tcp"`);
  if (transport === "tcp" && !o.connect)
    throw new InvalidOptionError("connect", `must be tcpTransport() (Node only) when transport is "tcp"`);
  if (!o.connect && !o.WebSocket && !(globalThis as { WebSocket?: unknown }).WebSocket)
    throw new InvalidOptionError("WebSocket", "is needed here: this runtime has no global WebSocket (pass the `ws` package)");
  if (!o.fetch && typeof (globalThis as { fetch?: unknown }).fetch !== "function")
    throw new InvalidOptionError("fetch", "is needed here: this runtime has no global fetch");
  // Called through globalThis: browsers throw "Illegal invocation" for a detached window.fetch.
  const fetchImpl: typeof fetch = o.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const backoff = {
    baseMs: positive("backoff.baseMs", o.backoff?.baseMs, DEFAULT_BACKOFF.baseMs),
    capMs: positive("backoff.capMs", o.backoff?.capMs, DEFAULT_BACKOFF.capMs),
  };
  if (backoff.capMs < backoff.baseMs) throw new InvalidOptionError("backoff.capMs", "must not be below backoff.baseMs");
  const syncInitialLimit = o.syncInitialLimit ?? DEFAULT_SYNC_INITIAL_LIMIT;
  if (!Number.isInteger(syncInitialLimit) || syncInitialLimit < 0)
    throw new InvalidOptionError("syncInitialLimit", "must be a whole number ≥ 0");
  return {
    apiUrl: o.apiUrl.replace(/\/+$/, ""),
    uid: o.uid,
    token: o.token,
    deviceFlag,
    deviceId: o.deviceId ?? `sb${randomId()}`,
    transport,
    open: o.connect ?? webSocketTransport(o.WebSocket),
    backoff,
    connectTimeoutMs: positive("connectTimeoutMs", o.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
    heartbeatMs: positive("heartbeatMs", o.heartbeatMs, DEFAULT_HEARTBEAT_MS),
    pongTimeoutMs: positive("pongTimeoutMs", o.pongTimeoutMs, DEFAULT_PONG_TIMEOUT_MS),
    resendMs: positive("resendMs", o.resendMs, DEFAULT_RESEND_MS),
    sync: o.sync ?? true,
    syncInitialLimit,
    gapSyncMs: positive("gapSyncMs", o.gapSyncMs, DEFAULT_GAP_SYNC_MS),
    fetch: fetchImpl,
    random: o.random ?? Math.random,
    logger: o.logger ?? silentClientLogger,
  };
}

/** Full jitter (AWS architecture blog): uniform in [0, min(cap, base · 2^attempt)). */
export function backoffDelay(attempt: number, backoff: { baseMs: number; capMs: number }, random: () => number): number {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * ceiling);
}

/** 32 hex chars: the default client_msg_no and device id. */
export function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID().replace(/-/g, "");
  let s = "";
  while (s.length < 32)
    s += Math.floor(Math.random() * 0x100000000)
      .toString(16)
      .padStart(8, "0");
  return s;
}
