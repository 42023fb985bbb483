/**
 * What every listener shares: option defaults, connection ids, the exactly-once close bookkeeping,
 * the write cap, shutdown, and binding a port with a clear error.
 */
import type { Server } from "node:net";
import { InvalidArgumentError, SwitchboardError } from "../util/errors.js";
import { type Logger, silentLogger } from "../util/logger.js";
import type { Connection, ConnectionHandler, ListenerOptions, TransportKind } from "./transport.js";

export const DEFAULT_MAX_WRITE_BUFFER_BYTES = 4 * 1024 * 1024;
/** WuKongIM reassembles WS messages up to 1 MiB; the extra KiB leaves room for a frame header. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024 + 1024;
export const DEFAULT_WS_PATH = "/";
/** How long a graceful close may take to flush before the socket is destroyed. */
export const CLOSE_GRACE_MS = 2_000;
/** TCP keep-alive probes start after this much silence: dead peers behind NAT get noticed eventually. */
export const KEEPALIVE_INITIAL_DELAY_MS = 30_000;
export const SHUTDOWN_REASON = "server shutdown";
export const SLOW_CONSUMER_REASON = "slow consumer";
export const HANDLER_ERROR_REASON = "handler error";
/** WebSocket close code "going away", used on shutdown. */
export const WS_GOING_AWAY = 1001;

/** Binding a port failed; `syscallCode` is Node's (EADDRINUSE, EACCES, ...). */
export class ListenError extends SwitchboardError {
  readonly kind: TransportKind;
  readonly host: string;
  readonly port: number;
  readonly syscallCode: string | undefined;
  constructor(kind: TransportKind, host: string, port: number, cause: NodeJS.ErrnoException) {
    const what =
      cause.code === "EADDRINUSE"
        ? `port ${port} is already in use (EADDRINUSE)`
        : cause.code === "EACCES"
          ? `no permission to bind port ${port} (EACCES)`
          : `cannot listen on port ${port}: ${cause.message}`;
    super(
      cause.code === "EADDRINUSE" ? "address_in_use" : "listen_failed",
      `${kind} listener on ${host}: ${what}; choose another with --${kind}-port`,
      { cause },
    );
    this.kind = kind;
    this.host = host;
    this.port = port;
    this.syscallCode = cause.code;
  }
}

export interface ResolvedOptions {
  host: string;
  port: number;
  handler: ConnectionHandler;
  idPrefix: string;
  maxConnections: number;
  maxWriteBufferBytes: number;
  maxFrameBytes: number;
  wsPath: string;
  allowedOrigins: ReadonlySet<string>;
  logger: Logger;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got ${value}`);
  return value;
}

export function resolveListenerOptions(kind: TransportKind, o: ListenerOptions): ResolvedOptions {
  const wsPath = o.wsPath ?? DEFAULT_WS_PATH;
  if (!wsPath.startsWith("/")) throw new InvalidArgumentError(`wsPath must start with "/", got "${wsPath}"`);
  return {
    host: o.host,
    port: o.port,
    handler: o.handler,
    idPrefix: o.idPrefix ?? "",
    maxConnections: positive("maxConnections", o.maxConnections, Number.POSITIVE_INFINITY),
    maxWriteBufferBytes: positive("maxWriteBufferBytes", o.maxWriteBufferBytes, DEFAULT_MAX_WRITE_BUFFER_BYTES),
    maxFrameBytes: positive("maxFrameBytes", o.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES),
    wsPath,
    // Origins compare exactly (scheme://host[:port]), case-insensitively: no wildcards or substrings (OWASP).
    allowedOrigins: new Set((o.allowedOrigins ?? []).map((s) => s.toLowerCase())),
    logger: (o.logger ?? silentLogger).child({ transport: kind }),
  };
}

let connectionCounter = 0;
/** Short ids, unique per process across all listeners. */
export function nextConnectionId(prefix: string): string {
  connectionCounter += 1;
  return prefix + connectionCounter.toString(36);
}

/** Runs handler code so that a throw costs one connection, not the process. */
function guarded(conn: BaseConnection, logger: Logger, what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    logger.error({ err, conn: conn.id }, `connection handler ${what} threw`);
    if (what !== "onClose") conn.destroy(HANDLER_ERROR_REASON);
  }
}

/**
 * The transport-independent half of a connection: state, first-reason-wins, the write cap, and the
 * exactly-once `onClose`. Subclasses move bytes and call `deliver` / `finished`.
 */
export abstract class BaseConnection implements Connection {
  readonly id: string;
  private state: "open" | "closing" | "closed" = "open";
  private reason: string | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private resolveClosed!: () => void;
  /** Settles after `onClose` ran. */
  readonly closed = new Promise<void>((resolve) => {
    this.resolveClosed = resolve;
  });

  constructor(
    readonly kind: TransportKind,
    readonly remoteAddress: string,
    protected readonly ctx: ConnectionTracker,
  ) {
    this.id = nextConnectionId(ctx.options.idPrefix);
  }

  abstract get bufferedBytes(): number;
  /** Queue bytes on the socket; only called while open and under the cap. */
  protected abstract send(data: Uint8Array): void;
  protected abstract sendMany(frames: readonly Uint8Array[], total: number): void;
  /** Start a flushing close that ends in `finished` (the grace timer here is behind it). */
  protected abstract shutdown(reason: string, code: number | undefined): void;
  /** Drop the socket now; must end in `finished`. */
  protected abstract kill(): void;

  /** Whether the socket still takes writes (the peer may have started closing before we noticed). */
  protected canWrite(): boolean {
    return true;
  }

  protected get logger(): Logger {
    return this.ctx.options.logger;
  }

  get isOpen(): boolean {
    return this.state === "open";
  }

  write(data: Uint8Array): boolean {
    if (!this.admit(data.length)) return false;
    if (data.length > 0) this.send(data); // an empty WS message would still be a frame on the wire
    return true;
  }

  writeMany(frames: readonly Uint8Array[]): boolean {
    let total = 0;
    for (const f of frames) total += f.length;
    if (!this.admit(total)) return false;
    if (total > 0) this.sendMany(frames, total);
    return true;
  }

  private admit(bytes: number): boolean {
    if (this.state !== "open" || !this.canWrite()) return false;
    const buffered = this.bufferedBytes;
    if (buffered + bytes <= this.ctx.options.maxWriteBufferBytes) return true;
    this.logger.debug({ conn: this.id, buffered, bytes }, "write buffer cap reached");
    this.destroy(SLOW_CONSUMER_REASON);
    return false;
  }

  close(reason: string, code?: number): void {
    if (this.state !== "open") return;
    this.beginClosing();
    this.reason = reason;
    this.shutdown(reason, code);
  }

  destroy(reason: string): void {
    if (this.state === "closed") return;
    this.beginClosing();
    this.reason ??= reason;
    this.kill();
  }

  private beginClosing(): void {
    if (this.state !== "open") return;
    this.state = "closing";
    // Whoever started it, a close must end: a peer that stops reading would otherwise hold the socket forever.
    this.graceTimer = setTimeout(() => this.kill(), CLOSE_GRACE_MS);
    this.graceTimer.unref();
  }

  /** Bytes from the peer; dropped once we decided to close. */
  protected deliver(chunk: Uint8Array): void {
    if (this.state === "open") guarded(this, this.logger, "onData", () => this.ctx.options.handler.onData(this, chunk));
  }

  /** The peer is ending the connection (or broke it): remember why, unless we already had a reason. */
  protected peerEnded(reason: string): void {
    this.beginClosing();
    this.reason ??= reason;
  }

  /** The socket is gone: report it once. */
  protected finished(fallbackReason: string): void {
    if (this.state === "closed") return;
    this.state = "closed";
    clearTimeout(this.graceTimer);
    const reason = this.reason ?? fallbackReason;
    this.ctx.remove(this);
    this.logger.debug({ conn: this.id, reason }, "connection closed");
    guarded(this, this.logger, "onClose", () => this.ctx.options.handler.onClose(this, reason));
    this.resolveClosed();
  }
}

/** One listener's open connections: the cap, `onOpen`, and closing them all on shutdown. */
export class ConnectionTracker {
  private readonly open = new Set<BaseConnection>();
  accepting = true;

  constructor(readonly options: ResolvedOptions) {}

  get size(): number {
    return this.open.size;
  }

  /** Whether one more connection may be accepted now. */
  hasRoom(): boolean {
    return this.accepting && this.open.size < this.options.maxConnections;
  }

  add(conn: BaseConnection): void {
    this.open.add(conn);
    guarded(conn, this.options.logger, "onOpen", () => this.options.handler.onOpen(conn));
  }

  remove(conn: BaseConnection): void {
    this.open.delete(conn);
  }

  /** Stop accepting and close everything gracefully; resolves when every `onClose` has run. */
  async closeAll(): Promise<void> {
    this.accepting = false;
    const all = [...this.open];
    for (const conn of all) conn.close(SHUTDOWN_REASON, WS_GOING_AWAY);
    await Promise.all(all.map((c) => c.closed));
  }
}

/** `server.listen` as a promise; a bind failure becomes a `ListenError` naming the port. */
export function bindServer(server: Server, kind: TransportKind, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.removeListener("listening", onListening);
      reject(new ListenError(kind, host, port, err));
    };
    const onListening = () => {
      server.removeListener("error", onError);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

/** `server.close` as a promise that never rejects (closing a server that is not listening is fine). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
