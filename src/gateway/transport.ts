/**
 * The transport seam: listeners (TCP, WebSocket, WebSocket over TLS) move bytes in and out of client
 * connections and know nothing about the WuKongIM protocol. The connection state machine sits on top
 * of `ConnectionHandler`; the codec turns the byte stream into frames.
 */
import type { Logger } from "../util/logger.js";

export type TransportKind = "tcp" | "ws" | "wss";

/** One client connection, whatever the transport. Methods never throw. */
export interface Connection {
  /** Unique within the process: the listener's `idPrefix` plus a base-36 counter. */
  readonly id: string;
  readonly kind: TransportKind;
  /** The peer's IP address as the socket sees it ("unknown" if it was already gone). */
  readonly remoteAddress: string;
  /**
   * Queue bytes for the client. Returns false without queueing when the connection is closing or
   * closed, or when the write buffer would exceed `maxWriteBufferBytes`: then the connection is
   * destroyed with reason "slow consumer" (the client recovers what it missed by seq).
   */
  write(data: Uint8Array): boolean;
  /**
   * Several frames in one go, with the same cap (checked on their total). TCP corks the socket;
   * WebSocket concatenates them into as few messages as `maxFrameBytes` allows (about 4x cheaper
   * than one message per frame; clients read WS payloads as a stream anyway).
   */
  writeMany(frames: readonly Uint8Array[]): boolean;
  /**
   * Flush what is queued, then close; destroyed anyway after `CLOSE_GRACE_MS` if the peer does not
   * cooperate. `code` (default 1000) and `reason` go into the WebSocket close frame; TCP ignores
   * the code. Idempotent: the first reason is the one `onClose` reports. Data arriving after this is dropped.
   */
  close(reason: string, code?: number): void;
  /** Close at once without flushing. Idempotent. */
  destroy(reason: string): void;
  /** Bytes accepted by `write` that the kernel has not taken yet. */
  readonly bufferedBytes: number;
}

/** What a listener calls. A handler that throws has its connection destroyed ("handler error"), never the process. */
export interface ConnectionHandler {
  /** A new connection, before any of its data. */
  onOpen(conn: Connection): void;
  /** Bytes from the client, in order. WebSocket messages are chunks of one byte stream: frames may be split or glued. */
  onData(conn: Connection, chunk: Uint8Array): void;
  /** Exactly once per opened connection, whatever ended it; nothing follows it. */
  onClose(conn: Connection, reason: string): void;
}

export interface Listener {
  readonly kind: TransportKind;
  /** The bound port (the real one when the options said 0). */
  readonly port: number;
  readonly host: string;
  /** Stop accepting, close every connection with "server shutdown" (WS code 1001), resolve when all are gone. Idempotent. */
  close(): Promise<void>;
  connectionCount(): number;
}

export interface ListenerOptions {
  host: string;
  /** 0 = any free port; the bound one is `Listener.port`. */
  port: number;
  handler: ConnectionHandler;
  /** Prepended to connection ids, e.g. "node1-". */
  idPrefix?: string;
  /** Refuse connections beyond this many open ones (TCP: destroyed at accept; WS: 503 on upgrade). Default: no limit. */
  maxConnections?: number;
  /** Per-connection write buffer cap; beyond it the connection is closed as a slow consumer. Default 4 MiB. */
  maxWriteBufferBytes?: number;
  /** Largest WebSocket message accepted (beyond it: close 1009) and sent. Default 1 MiB + 1 KiB. */
  maxFrameBytes?: number;
  /** The only path upgraded; others get 404. Default "/". */
  wsPath?: string;
  /** Empty = any Origin. Otherwise an upgrade with an Origin header not listed gets 403; no Origin (non-browser clients) passes. */
  allowedOrigins?: string[];
  /** Certificate and key (PEM). Required for "wss". */
  tls?: { cert: string | Buffer; key: string | Buffer };
  logger?: Logger;
}
