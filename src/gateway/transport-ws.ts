/**
 * WebSocket and WebSocket-over-TLS listeners. `ws` runs in noServer mode on our own HTTP(S) server so
 * every upgrade passes our checks first (path, Origin, capacity, header count), and the server's
 * header and timeout limits close the known ws/Node DoS holes (CVE-2024-37890, slowloris, fragment floods).
 */
import {
  type ServerOptions as HttpOptions,
  type IncomingMessage,
  STATUS_CODES,
  type Server,
  createServer as createHttpServer,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import WebSocket, { WebSocketServer, type ServerOptions as WsServerOptions } from "ws";
import { InvalidArgumentError } from "../util/errors.js";
import {
  BaseConnection,
  CLOSE_GRACE_MS,
  ConnectionTracker,
  KEEPALIVE_INITIAL_DELAY_MS,
  type ResolvedOptions,
  bindServer,
  closeServer,
  resolveListenerOptions,
} from "./transport-base.js";
import type { Listener, ListenerOptions, TransportKind } from "./transport.js";

/** Browsers send ~15 headers on an upgrade; a request that reaches this many is refused, not truncated. */
export const MAX_HEADERS_COUNT = 64;
/** Node's default, stated: bigger header blocks get 431 from the parser. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Slowloris: the whole header block within this long... */
export const HEADERS_TIMEOUT_MS = 5_000;
/** ...and the whole request (an upgrade has no body) within this long. Upgraded sockets are exempt. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** How often Node checks the two timeouts above (its default, 30 s, would let them overrun that much). */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;
/** A TLS client must finish its handshake within this long. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Fragments per message and receive chunks per frame (ws 8.21+); ws's defaults still allow an OOM (ws #2331). */
export const MAX_FRAGMENTS = 64;
export const MAX_BUFFERED_CHUNKS = 4_096;

export const WS_NORMAL_CLOSURE = 1000;
export const WS_UNSUPPORTED_DATA = 1003;
export const TEXT_FRAME_REASON = "binary frames only";
/** RFC 6455: a close frame's reason fits in 123 bytes of UTF-8. */
const MAX_CLOSE_REASON_BYTES = 123;

function closeReasonText(reason: string): string {
  let out = reason.length > MAX_CLOSE_REASON_BYTES ? reason.slice(0, MAX_CLOSE_REASON_BYTES) : reason;
  while (Buffer.byteLength(out) > MAX_CLOSE_REASON_BYTES) out = out.slice(0, -1);
  return out;
}

class WsConnection extends BaseConnection {
  constructor(
    private readonly ws: WebSocket,
    kind: TransportKind,
    remoteAddress: string,
    tracker: ConnectionTracker,
  ) {
    super(kind, remoteAddress, tracker);
    ws.binaryType = "nodebuffer";
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      // WuKongIM frames are binary; a text message is a client that does not speak the protocol.
      if (isBinary) this.deliver(data);
      else this.close(TEXT_FRAME_REASON, WS_UNSUPPORTED_DATA);
    });
    // ws reports protocol violations here (oversized message → it closes with 1009, bad opcode → 1002, ...).
    ws.on("error", (err: Error & { code?: string }) => {
      this.logger.debug({ conn: this.id, err: err.message, code: err.code }, "websocket protocol error");
      this.peerEnded(`protocol error: ${err.message}`);
    });
    ws.on("close", (code: number, reason: Buffer) => {
      this.finished(reason.length > 0 ? `client closed (${code} ${reason.toString()})` : `client closed (${code})`);
    });
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  protected override canWrite(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  protected send(data: Uint8Array): void {
    this.ws.send(data);
  }

  /** Frames glued into messages of at most maxFrameBytes, so a peer with our own limit accepts them. */
  protected sendMany(frames: readonly Uint8Array[], total: number): void {
    const max = this.ctx.options.maxFrameBytes;
    if (total <= max) {
      this.ws.send(frames.length === 1 ? frames[0] : Buffer.concat(frames, total));
      return;
    }
    let batch: Uint8Array[] = [];
    let size = 0;
    const flush = () => {
      if (size > 0) this.ws.send(batch.length === 1 ? batch[0] : Buffer.concat(batch, size));
      batch = [];
      size = 0;
    };
    for (const f of frames) {
      if (size + f.length > max) flush();
      batch.push(f);
      size += f.length;
    }
    flush();
  }

  protected shutdown(reason: string, code: number | undefined): void {
    // ws queues the close frame behind pending data and destroys the socket after closeTimeout (our grace).
    try {
      this.ws.close(code ?? WS_NORMAL_CLOSURE, closeReasonText(reason));
    } catch (err) {
      // An invalid close code from the caller: ws throws; drop the connection instead of crashing.
      this.logger.debug({ conn: this.id, err, code }, "websocket close failed; terminating");
      this.ws.terminate();
    }
  }

  protected kill(): void {
    this.ws.terminate();
  }
}

/** Answer an upgrade we will not do, then drop the socket. */
function refuse(socket: Duplex, status: number, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  socket.once("finish", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Why this upgrade must be refused, or undefined to go ahead. */
function upgradeRefusal(req: IncomingMessage, o: ResolvedOptions, tracker: ConnectionTracker): [number, string] | undefined {
  // Node silently drops headers beyond maxHeadersCount; a truncated request is not trusted (CVE-2024-37890).
  if (req.rawHeaders.length >= MAX_HEADERS_COUNT * 2) return [431, "too many headers"];
  const url = req.url ?? "";
  const q = url.indexOf("?");
  if ((q === -1 ? url : url.slice(0, q)) !== o.wsPath) return [404, "not found"];
  const origin = req.headers.origin;
  if (o.allowedOrigins.size > 0 && origin !== undefined && !o.allowedOrigins.has(origin.toLowerCase())) {
    return [403, "origin not allowed"];
  }
  if (!tracker.accepting) return [503, "shutting down"];
  if (!tracker.hasRoom()) return [503, "server full"];
  return undefined;
}

async function listenWebSocket(kind: "ws" | "wss", opts: ListenerOptions): Promise<Listener> {
  if (kind === "wss" && !opts.tls) throw new InvalidArgumentError("a wss listener needs tls: { cert, key }");
  const options = resolveListenerOptions(kind, opts);
  const { logger } = options;
  const tracker = new ConnectionTracker(options);

  const httpOptions: HttpOptions = {
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS,
    noDelay: true,
    keepAlive: true,
    keepAliveInitialDelay: KEEPALIVE_INITIAL_DELAY_MS,
  };
  // The kind decides, not the presence of `tls`: a plain ws listener ignores it.
  const server: Server =
    kind === "wss" && opts.tls
      ? createHttpsServer({ ...httpOptions, cert: opts.tls.cert, key: opts.tls.key, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS })
      : createHttpServer(httpOptions);
  server.maxHeadersCount = MAX_HEADERS_COUNT;

  // closeTimeout exists in ws 8.23 but not yet in @types/ws 8.18.
  const wsOptions: WsServerOptions & { closeTimeout: number } = {
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: options.maxFrameBytes,
    maxFragments: MAX_FRAGMENTS,
    maxBufferedChunks: MAX_BUFFERED_CHUNKS,
    closeTimeout: CLOSE_GRACE_MS,
  };
  const wss = new WebSocketServer(wsOptions);

  // Every raw socket, so shutdown can drop the ones that never became WebSockets (half-sent requests, TLS handshakes).
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node hands over the socket with no 'error' listener; one reset before ws attaches its own would crash us.
    socket.on("error", (err: NodeJS.ErrnoException) => logger.debug({ err: err.message, code: err.code }, "upgrade socket error"));
    const refusal = upgradeRefusal(req, options, tracker);
    if (refusal) {
      logger.debug({ remote: req.socket.remoteAddress, url: req.url, status: refusal[0] }, `websocket upgrade refused: ${refusal[1]}`);
      refuse(socket, ...refusal);
      return;
    }
    // handleUpgrade answers malformed handshakes itself (400/405) and calls back synchronously here.
    wss.handleUpgrade(req, socket, head, (ws) => {
      tracker.add(new WsConnection(ws, kind, req.socket.remoteAddress ?? "unknown", tracker));
    });
  });

  server.on("request", (_req, res) => {
    const body = "426 Upgrade Required: this port speaks WebSocket only\n";
    res.writeHead(426, {
      "content-type": "text/plain; charset=utf-8",
      "content-length": Buffer.byteLength(body),
      upgrade: "websocket",
      connection: "Upgrade, close",
    });
    res.end(body);
  });

  // Malformed HTTP, too-large header blocks, header/request timeouts: answer like Node would, and log.
  server.on("clientError", (err: NodeJS.ErrnoException, duplex: Duplex) => {
    logger.debug({ err: err.message, code: err.code }, "http client error");
    const socket = duplex as Socket;
    if (err.code === "ECONNRESET" || !socket.writable || socket.bytesWritten > 0) {
      socket.destroy();
      return;
    }
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    refuse(socket, status, STATUS_CODES[status] ?? "bad request");
  });
  if (kind === "wss") {
    server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
      logger.debug({ err: err.message, code: err.code }, "tls handshake failed");
      socket.destroy();
    });
  }
  server.on("error", (err) => {
    if (server.listening) logger.error({ err }, `${kind} listener error`);
  });
  const port = await bindServer(server, kind, options.host, options.port);

  let closing: Promise<void> | undefined;
  return {
    kind,
    host: options.host,
    port,
    connectionCount: () => tracker.size,
    close() {
      closing ??= (async () => {
        tracker.accepting = false;
        const stopped = closeServer(server);
        await tracker.closeAll();
        // What is still connected is not a WebSocket; it must not hold the shutdown up until its timeout.
        for (const socket of sockets) socket.destroy();
        await stopped;
      })();
      return closing;
    },
  };
}

/** Listen for WebSocket clients (binary messages, one byte stream per connection). */
export function listenWs(opts: ListenerOptions): Promise<Listener> {
  return listenWebSocket("ws", opts);
}

/** Listen for WebSocket-over-TLS clients; `opts.tls` is required. */
export function listenWss(opts: ListenerOptions): Promise<Listener> {
  return listenWebSocket("wss", opts);
}
