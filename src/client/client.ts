/**
 * Switchboard's own client, for Node and browsers: asks the router where to connect, speaks
 * WuKongIM's protocol with its encryption, acks what it receives, retries sends until SENDACK
 * (the same client_msg_no, so the server stores each once), keeps the connection alive, and on
 * any loss reconnects with full-jitter backoff to whatever node the route API names then,
 * syncing what it missed over HTTP. Every message reaches the app once (de-duplicated by id).
 */
import { encodePacket } from "../protocol/codec.js";
import type { Packet } from "../protocol/codec.js";
import { LATEST_VERSION, PacketType } from "../protocol/constants.js";
import { FrameDecoder } from "../protocol/frame-decoder.js";
import { encodeRecvack, recvackFor } from "../protocol/recvack.js";
import { ClientCipher, type ClientKeyPair, createKeyPair } from "./client-crypto.js";
import { TypedEmitter } from "./emitter.js";
import { type SyncedMessage, syncMissed } from "./sync.js";
import { type ClientTransport, type TransportFactory, type WebSocketConstructor, webSocketTransport } from "./transport.js";

export interface ClientMessage extends SyncedMessage {
  /** The payload as UTF-8 text. */
  text: string;
  /** Came from a sync after a (re)connect rather than live. */
  synced: boolean;
}

export interface SendResult {
  clientMsgNo: string;
  messageId: number;
  messageSeq: number;
}

export class SendError extends Error {
  constructor(
    readonly reasonCode: number,
    message: string,
  ) {
    super(message);
    this.name = "SendError";
  }
}

export type ClientEvents = {
  connected: [{ addr: string }];
  message: [ClientMessage];
  ack: [SendResult];
  disconnected: [{ reason: string; reasonCode?: number; willReconnect: boolean }];
  reconnecting: [{ attempt: number; delayMs: number }];
  error: [Error];
};

export interface ClientOptions {
  /** Router API base URL, e.g. http://127.0.0.1:5001 — used for /route and sync. */
  apiUrl: string;
  uid: string;
  token: string;
  deviceFlag?: number;
  /** Which address of the route answer to use. */
  transport?: "ws" | "wss" | "tcp";
  /** Opens connections; defaults to WebSocket (the global one, or `WebSocket` below). */
  connect?: TransportFactory;
  WebSocket?: WebSocketConstructor;
  /** Full-jitter exponential backoff between reconnects. */
  backoff?: { baseMs: number; capMs: number };
  heartbeatMs?: number;
  /** No bytes from the server for this long after a PING: the connection is dropped. */
  pongTimeoutMs?: number;
  /** A SEND without SENDACK for this long is sent again (same client_msg_no). */
  resendMs?: number;
  /** Sync missed messages after each connect; channels never seen start this many messages back. */
  syncInitialLimit?: number;
  fetch?: typeof fetch;
  random?: () => number;
}

interface PendingSend {
  clientMsgNo: string;
  channelId: string;
  channelType: number;
  payload: Uint8Array;
  sentAt: number;
  clientSeq: number;
  resolve(r: SendResult): void;
  reject(e: Error): void;
}

/** Reason codes after which reconnecting cannot help (WuKongIM: AuthFail 2, ConnectKick 12 …). */
const FATAL_REASONS = new Set([2, 12]);
const utf8 = new TextDecoder();

export class SwitchboardClient extends TypedEmitter<ClientEvents> {
  private readonly o: Required<Omit<ClientOptions, "connect" | "WebSocket" | "fetch">> & Pick<ClientOptions, "fetch">;
  private readonly open: TransportFactory;
  private state: "idle" | "connecting" | "connected" | "closed" = "idle";
  private conn: ClientTransport | undefined;
  private cipher: ClientCipher | undefined;
  private decoder = new FrameDecoder({ version: LATEST_VERSION });
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lastHeard = 0;
  private attempt = 0;
  private clientSeq = 0;
  private readonly pending = new Map<string, PendingSend>();
  private readonly seenIds = new Set<number>();
  private readonly lastSeq = new Map<string, number>();
  private connectedWaiters: { resolve(): void; reject(e: Error): void }[] = [];

  constructor(options: ClientOptions) {
    super();
    this.o = {
      deviceFlag: 0,
      transport: "ws",
      backoff: { baseMs: 500, capMs: 15_000 },
      heartbeatMs: 30_000,
      pongTimeoutMs: 10_000,
      resendMs: 5_000,
      syncInitialLimit: 20,
      random: Math.random,
      ...options,
    };
    this.open = options.connect ?? webSocketTransport(options.WebSocket);
  }

  get connected(): boolean {
    return this.state === "connected";
  }

  /** Connect (and keep reconnecting until close()); resolves on the first successful CONNACK. */
  connect(): Promise<void> {
    if (this.state === "closed") return Promise.reject(new Error("client is closed"));
    if (this.state === "connected") return Promise.resolve();
    const waiting = new Promise<void>((resolve, reject) => this.connectedWaiters.push({ resolve, reject }));
    if (this.state === "idle") void this.dial();
    return waiting;
  }

  /** Send a message; resolves with its id and seq once the server has stored it. */
  send(channelId: string, channelType: number, content: string | Uint8Array, clientMsgNo = randomId()): Promise<SendResult> {
    if (this.state === "closed") return Promise.reject(new Error("client is closed"));
    const payload = typeof content === "string" ? new TextEncoder().encode(content) : content;
    const existing = this.pending.get(clientMsgNo);
    if (existing) return new Promise((resolve, reject) => this.pending.set(clientMsgNo, { ...existing, resolve, reject }));
    return new Promise((resolve, reject) => {
      const p: PendingSend = { clientMsgNo, channelId, channelType, payload, sentAt: 0, clientSeq: 0, resolve, reject };
      this.pending.set(clientMsgNo, p);
      if (this.state === "connected") this.writeSend(p);
    });
  }

  close(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    clearInterval(this.heartbeat);
    if (this.conn) this.conn.write(encodePacket({ type: PacketType.DISCONNECT, reasonCode: 0, reason: "client closed" }, LATEST_VERSION));
    this.conn?.close();
    this.conn = undefined;
    for (const p of this.pending.values()) p.reject(new Error("client closed before the server acknowledged"));
    this.pending.clear();
    for (const w of this.connectedWaiters.splice(0)) w.reject(new Error("client closed"));
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private async route(): Promise<string> {
    const res = await (this.o.fetch ?? fetch)(`${this.o.apiUrl}/route?uid=${encodeURIComponent(this.o.uid)}`);
    if (!res.ok) throw new Error(`route lookup answered ${res.status}`);
    const body = (await res.json()) as { tcp_addr: string; ws_addr: string; wss_addr: string };
    return this.o.transport === "tcp" ? body.tcp_addr : this.o.transport === "wss" ? body.wss_addr : body.ws_addr;
  }

  /** One connection attempt; any failure ends in lost(), which schedules the next. */
  private async dial(): Promise<void> {
    this.state = "connecting";
    let addr: string;
    try {
      addr = await this.route();
    } catch (err) {
      this.lost(`route lookup failed: ${(err as Error).message}`);
      return;
    }
    if (this.state !== "connecting") return;
    const keys = createKeyPair();
    this.decoder = new FrameDecoder({ version: LATEST_VERSION });
    this.cipher = undefined;
    const conn = this.open(addr, {
      onOpen: () => conn.write(this.connectFrame(keys)),
      onData: (chunk) => this.onData(conn, chunk, keys, addr),
      onClose: (reason) => {
        if (this.conn === conn) this.lost(reason);
      },
    });
    this.conn = conn;
  }

  private connectFrame(keys: ClientKeyPair): Uint8Array {
    return encodePacket(
      {
        type: PacketType.CONNECT,
        version: LATEST_VERSION,
        deviceFlag: this.o.deviceFlag,
        deviceId: `${this.o.uid}-${this.o.deviceFlag}-sb`,
        uid: this.o.uid,
        token: this.o.token,
        clientTimestamp: Date.now(),
        clientKey: keys.publicKeyBase64,
      },
      LATEST_VERSION,
    );
  }

  private onData(conn: ClientTransport, chunk: Uint8Array, keys: ClientKeyPair, addr: string): void {
    if (this.conn !== conn) return;
    this.lastHeard = Date.now();
    let packets: Packet[];
    try {
      packets = this.decoder.push(chunk);
    } catch (err) {
      this.lost(`bad frame from the server: ${(err as Error).message}`);
      return;
    }
    for (const p of packets) {
      if (this.conn !== conn) return;
      this.onPacket(p, keys, addr);
    }
  }

  private onPacket(p: Packet, keys: ClientKeyPair, addr: string): void {
    switch (p.type) {
      case PacketType.CONNACK:
        if (p.reasonCode !== 1) {
          this.lost(`connect refused (reason ${p.reasonCode})`, p.reasonCode);
          return;
        }
        this.cipher = new ClientCipher(keys, p.serverKey, p.salt);
        this.onConnected(addr);
        return;
      case PacketType.SENDACK: {
        const pending = [...this.pending.values()].find((s) => s.clientSeq === p.clientSeq);
        if (!pending) return;
        this.pending.delete(pending.clientMsgNo);
        if (p.reasonCode !== 1) {
          pending.reject(new SendError(p.reasonCode, `send refused (reason ${p.reasonCode})`));
          return;
        }
        const result = { clientMsgNo: pending.clientMsgNo, messageId: p.messageId, messageSeq: p.messageSeq };
        pending.resolve(result);
        this.emit("ack", result);
        return;
      }
      case PacketType.RECV: {
        this.conn?.write(encodeRecvack(recvackFor(p), LATEST_VERSION));
        const cipher = this.cipher;
        if (!cipher) return;
        const fields = `${p.messageId}${p.messageSeq}${p.clientMsgNo}${p.timestamp}${p.fromUid}${p.channelId}${p.channelType}`;
        if (cipher.msgKey(fields, p.payload) !== p.msgKey) {
          this.emit("error", new Error(`RECV ${p.messageId} failed its msg_key check`));
          return;
        }
        const { messageId, messageSeq, clientMsgNo, fromUid, channelId, channelType, timestamp } = p;
        this.deliver(
          { messageId, messageSeq, clientMsgNo, fromUid, channelId, channelType, timestamp, payload: cipher.decrypt(p.payload) },
          false,
        );
        return;
      }
      case PacketType.DISCONNECT:
        this.lost(`disconnected by the server: ${p.reason}`, p.reasonCode);
        return;
      default:
        return; // PONG: lastHeard is enough
    }
  }

  private deliver(m: SyncedMessage, synced: boolean): void {
    if (this.seenIds.has(m.messageId)) return;
    this.seenIds.add(m.messageId);
    // Bounded memory: ids far behind are no longer re-sent by anyone.
    if (this.seenIds.size > 50_000) this.seenIds.delete(this.seenIds.values().next().value as number);
    const key = `${m.channelType}:${m.channelId}`;
    if (m.messageSeq > (this.lastSeq.get(key) ?? 0)) this.lastSeq.set(key, m.messageSeq);
    this.emit("message", { ...m, text: utf8.decode(m.payload), synced });
  }

  private onConnected(addr: string): void {
    this.state = "connected";
    this.attempt = 0;
    this.lastHeard = Date.now();
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.beat(), Math.min(this.o.heartbeatMs, this.o.resendMs));
    this.emit("connected", { addr });
    for (const w of this.connectedWaiters.splice(0)) w.resolve();
    for (const p of this.pending.values()) this.writeSend(p);
    void this.sync();
  }

  private async sync(): Promise<void> {
    const { apiUrl, uid, deviceFlag, token, fetch: f } = this.o;
    try {
      const missed = await syncMissed({ apiUrl, uid, deviceFlag, token, fetch: f }, this.lastSeq, this.o.syncInitialLimit);
      for (const m of missed) if (this.state !== "closed") this.deliver(m, true);
    } catch (err) {
      this.emit("error", new Error(`sync failed: ${(err as Error).message}`));
    }
  }

  /** Heartbeat, dead-connection detection and SEND retries, on one timer. */
  private beat(): void {
    if (this.state !== "connected" || !this.conn) return;
    const now = Date.now();
    if (now - this.lastHeard > this.o.heartbeatMs + this.o.pongTimeoutMs) {
      this.lost("no answer to heartbeats");
      return;
    }
    if (now - this.lastHeard >= this.o.heartbeatMs) this.conn.write(encodePacket({ type: PacketType.PING }, LATEST_VERSION));
    for (const p of this.pending.values()) if (now - p.sentAt >= this.o.resendMs) this.writeSend(p);
  }

  private writeSend(p: PendingSend): void {
    const cipher = this.cipher;
    if (!cipher || !this.conn) return;
    p.clientSeq = ++this.clientSeq;
    p.sentAt = Date.now();
    const wire = cipher.encrypt(p.payload);
    const msgKey = cipher.msgKey(`${p.clientSeq}${p.clientMsgNo}${p.channelId}${p.channelType}`, wire);
    const packet = { type: PacketType.SEND, dup: false, syncOnce: false, redDot: true, noPersist: false, setting: 0 } as const;
    this.conn.write(
      encodePacket(
        {
          ...packet,
          clientSeq: p.clientSeq,
          clientMsgNo: p.clientMsgNo,
          channelId: p.channelId,
          channelType: p.channelType,
          expire: 0,
          msgKey,
          payload: wire,
        },
        LATEST_VERSION,
      ),
    );
  }

  /** The connection is gone (or never came up): tell the app and schedule the next attempt. */
  private lost(reason: string, reasonCode?: number): void {
    if (this.state === "closed") return;
    const conn = this.conn;
    this.conn = undefined;
    conn?.close();
    clearInterval(this.heartbeat);
    const fatal = reasonCode !== undefined && FATAL_REASONS.has(reasonCode);
    this.state = fatal ? "closed" : "connecting";
    this.emit("disconnected", { reason, reasonCode, willReconnect: !fatal });
    if (fatal) {
      const err = new Error(reason);
      for (const w of this.connectedWaiters.splice(0)) w.reject(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      return;
    }
    this.attempt++;
    const cap = Math.min(this.o.backoff.capMs, this.o.backoff.baseMs * 2 ** Math.min(this.attempt, 20));
    const delayMs = Math.floor(this.o.random() * cap);
    this.emit("reconnecting", { attempt: this.attempt, delayMs });
    this.later(delayMs, () => {
      if (this.state === "connecting") void this.dial();
    });
  }
}

function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return c?.randomUUID ? c.randomUUID().replace(/-/g, "") : `${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
}
