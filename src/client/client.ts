/**
 * Switchboard's client for Node and browsers. It asks the router where to connect (GET /route),
 * speaks WuKongIM's protocol with its encryption, acks what it receives, retries sends until
 * SENDACK under one client_msg_no (the server stores each once), and keeps the connection alive.
 * On any loss it waits a full-jitter backoff, asks the router again (the node may be gone) and
 * syncs what it missed over HTTP. The app sees every message once, in seq order per channel.
 */
import { ReasonCode } from "../protocol/constants.js";
import type { SendackPacket } from "../protocol/sendack.js";
import { Connection, type ConnectionEnd } from "./connection.js";
import { TypedEmitter } from "./emitter.js";
import { ClientClosedError, ConnectionRefusedError } from "./errors.js";
import { Inbox } from "./inbox.js";
import { type ClientOptions, type ResolvedOptions, backoffDelay, randomId, resolveOptions } from "./options.js";
import { Outbox, type PendingSend } from "./outbox.js";
import { type PostJson, syncMissed } from "./sync.js";
import type { ClientEvents, ClientState, InboundMessage, SendOptions, SendResult } from "./types.js";

/** CONNACK refusals after which reconnecting cannot help (bad token, banned, kicked by a newer login, …). */
const FATAL_REFUSALS = new Set<number>([
  ReasonCode.AuthFail,
  ReasonCode.ConnectKick,
  ReasonCode.Ban,
  ReasonCode.NotSupportHeader,
  ReasonCode.ClientKeyIsEmpty,
  ReasonCode.ProtocolUpgradeRequired,
]);
/** DISCONNECTs that mean "stay off" (another login took over, or a ban); others are reconnected. */
const FATAL_DISCONNECTS = new Set<number>([ReasonCode.ConnectKick, ReasonCode.Ban]);

export type { ClientEvents, ClientMessage, SendOptions, SendResult } from "./types.js";
export { SendError } from "./errors.js";

type Timer = ReturnType<typeof setTimeout>;

export class SwitchboardClient extends TypedEmitter<ClientEvents> {
  private readonly o: ResolvedOptions;
  private currentState: ClientState = "idle";
  private conn: Connection | undefined;
  private lastAddr: string | undefined;
  private readyAt = 0;
  private attempt = 0;
  private closedBy: Error | undefined;
  private readonly outbox = new Outbox();
  private readonly inbox: Inbox;
  private readonly timers = new Set<Timer>();
  private resendTimer: Timer | undefined;
  private gapTimer: Timer | undefined;
  private gapSyncAlways = false;
  private readonly requests = new Set<AbortController>();
  private syncing = false;
  private syncAgain = false;
  private waiters: { resolve(): void; reject(e: Error): void }[] = [];

  constructor(options: ClientOptions) {
    super();
    this.o = resolveOptions(options);
    this.inbox = new Inbox((m) => this.emit("message", m));
  }

  get state(): ClientState {
    return this.currentState;
  }

  /** A getter so TypeScript does not narrow the state away across awaits and callbacks. */
  private get isClosed(): boolean {
    return this.currentState === "closed";
  }

  get connected(): boolean {
    return this.currentState === "connected";
  }

  /**
   * Starts connecting (and keeps reconnecting until close()). Resolves at the first successful
   * CONNACK; rejects if the server refuses for good (ConnectionRefusedError) or on close().
   */
  connect(): Promise<void> {
    if (this.isClosed) return Promise.reject(this.closedBy ?? new ClientClosedError());
    if (this.currentState === "connected") return Promise.resolve();
    const ready = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.currentState === "idle") void this.dial();
    return ready;
  }

  /**
   * Sends a message: resolves with its id and seq once the server has stored it, rejects with a
   * SendError if the server refuses it. Until then it is resent every resendMs and after every
   * reconnect, always under the same client_msg_no. Queued while not connected; on a client
   * never connected it starts connecting.
   */
  send(channelId: string, channelType: number, content: string | Uint8Array, options: SendOptions | string = {}): Promise<SendResult> {
    if (this.isClosed) return Promise.reject(this.closedError());
    const opts = typeof options === "string" ? { clientMsgNo: options } : options;
    if (typeof channelId !== "string" || channelId === "") return Promise.reject(new TypeError("channelId must be a non-empty string"));
    if (!Number.isInteger(channelType) || channelType < 1 || channelType > 255)
      return Promise.reject(new TypeError("channelType must be 1..255 (1 person, 2 group)"));
    // A copy: the caller may reuse its buffer while the message still waits to be resent.
    const payload = typeof content === "string" ? new TextEncoder().encode(content) : Uint8Array.from(content);
    const { send, fresh, promise } = this.outbox.add({
      clientMsgNo: opts.clientMsgNo ?? randomId(),
      channelId,
      channelType,
      payload,
      noPersist: opts.noPersist ?? false,
      redDot: opts.redDot ?? true,
    });
    if (fresh && this.currentState === "connected") {
      this.write(send);
      this.scheduleResend();
    }
    if (this.currentState === "idle") void this.dial();
    return promise;
  }

  /** Stops everything: the connection, timers, HTTP requests. Pending sends and connect() reject. */
  close(): void {
    if (this.isClosed) return;
    const wasConnected = this.currentState === "connected";
    this.shutdown(new ClientClosedError("client closed"));
    if (wasConnected) this.emit("disconnected", { reason: "closed by the client", willReconnect: false });
  }

  /** Why a call on a closed client fails: closed, and by what. */
  private closedError(): ClientClosedError {
    const by = this.closedBy;
    if (!by || by instanceof ClientClosedError) return by ?? new ClientClosedError();
    return new ClientClosedError(`client is closed: ${by.message}`, { cause: by });
  }

  protected override listenerFailed(event: keyof ClientEvents, err: unknown): void {
    this.o.logger.error({ err, event }, "a client event listener threw");
    if (event !== "error") this.emit("error", err instanceof Error ? err : new Error(String(err)));
  }

  private later(ms: number, fn: () => void): Timer {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private cancel(t: Timer | undefined): void {
    if (t === undefined) return;
    clearTimeout(t);
    this.timers.delete(t);
  }

  /** An HTTP request bounded by connectTimeoutMs and aborted by close(); resolves with the body text. */
  private async request(url: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
    const ac = new AbortController();
    this.requests.add(ac);
    const timer = this.later(this.o.connectTimeoutMs, () => ac.abort(new Error(`no answer within ${this.o.connectTimeoutMs} ms`)));
    try {
      const res = await this.o.fetch(url, { ...init, signal: ac.signal });
      return { status: res.status, text: await res.text() };
    } finally {
      this.cancel(timer);
      this.requests.delete(ac);
    }
  }

  private readonly post: PostJson = async <T>(path: string, body: unknown): Promise<T> => {
    const { uid, deviceFlag, token } = this.o;
    const res = await this.request(`${this.o.apiUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `User ${encodeURIComponent(uid)}:${deviceFlag}:${token}` },
      body: JSON.stringify(body),
    });
    if (res.status < 200 || res.status > 299) throw new Error(`${path} answered ${res.status}: ${res.text.slice(0, 200)}`);
    return JSON.parse(res.text) as T;
  };

  /** The address the router gives this user now, for the configured transport. */
  private async route(): Promise<string> {
    const res = await this.request(`${this.o.apiUrl}/route?uid=${encodeURIComponent(this.o.uid)}`);
    if (res.status !== 200) throw new Error(`answered ${res.status}: ${res.text.slice(0, 200)}`);
    const body = JSON.parse(res.text) as Record<string, unknown>;
    const addr = body[`${this.o.transport}_addr`];
    if (typeof addr !== "string" || addr === "") throw new Error(`the answer has no ${this.o.transport}_addr`);
    return addr;
  }

  /** One connection attempt. Every failure ends in onLost() or retry(), which schedule the next. */
  private async dial(): Promise<void> {
    if (this.isClosed) return;
    this.currentState = "connecting";
    let addr: string;
    try {
      addr = await this.route();
    } catch (err) {
      if (this.currentState !== "connecting") return;
      const reason = `route lookup failed: ${(err as Error).message}`;
      // The router may be down while the node is fine: try where we were last.
      if (!this.lastAddr) return this.retry(reason);
      this.o.logger.warn({ err, addr: this.lastAddr }, "route lookup failed; dialling the last address");
      addr = this.lastAddr;
    }
    if (this.currentState !== "connecting") return;
    this.lastAddr = addr;
    const { open, uid, token, deviceFlag, deviceId, connectTimeoutMs, heartbeatMs, pongTimeoutMs } = this.o;
    const conn: Connection = new Connection(
      { addr, open, uid, token, deviceFlag, deviceId, connectTimeoutMs, heartbeatMs, pongTimeoutMs },
      {
        ready: (info) => this.conn === conn && this.onReady(conn, info.nodeId),
        sendack: (p) => this.conn === conn && this.onSendack(p),
        message: (m) => this.conn === conn && this.onLive(m),
        badMessage: (id, seq, problem) => {
          if (this.conn !== conn) return;
          this.emit("error", new Error(`RECV ${id} (seq ${seq}) ${problem}; it will be synced`));
          this.scheduleGapSync(true);
        },
        lost: (end) => this.conn === conn && this.onLost(end),
      },
    );
    this.conn = conn;
    this.o.logger.debug({ addr, uid }, "connecting");
    conn.start();
  }

  private onReady(conn: Connection, nodeId: number): void {
    this.currentState = "connected";
    this.readyAt = Date.now();
    this.o.logger.info({ addr: conn.addr, nodeId, uid: this.o.uid }, "connected");
    this.emit("connected", { addr: conn.addr, nodeId });
    for (const w of this.waiters.splice(0)) w.resolve();
    if (this.conn !== conn) return; // a listener closed us
    for (const s of this.outbox.all()) this.write(s);
    this.scheduleResend();
    void this.sync();
  }

  private onLost(end: ConnectionEnd): void {
    this.conn = undefined;
    this.cancel(this.resendTimer);
    this.resendTimer = undefined;
    const code = end.reasonCode;
    const fatal = code !== undefined && (end.refused ? FATAL_REFUSALS.has(code) : FATAL_DISCONNECTS.has(code));
    this.o.logger.info({ reason: end.reason, reasonCode: code, fatal }, "connection ended");
    if (fatal) {
      const err = new ConnectionRefusedError(code, end.reason);
      this.shutdown(err);
      this.emit("disconnected", { reason: end.reason, reasonCode: code, willReconnect: false });
      this.emit("error", err);
      return;
    }
    // A connection that stayed up for a while resets the backoff; one that flaps keeps backing off.
    if (end.wasReady && Date.now() - this.readyAt >= this.o.backoff.capMs) this.attempt = 0;
    if (end.wasReady || end.refused) this.emit("disconnected", { reason: end.reason, reasonCode: code, willReconnect: true });
    this.retry(end.reason);
  }

  /** Schedules the next dial after a full-jitter backoff. */
  private retry(reason: string): void {
    if (this.isClosed) return;
    this.currentState = "connecting";
    const delayMs = backoffDelay(this.attempt, this.o.backoff, this.o.random);
    this.attempt++;
    this.emit("reconnecting", { attempt: this.attempt, delayMs, reason });
    this.later(delayMs, () => void this.dial());
  }

  private shutdown(err: Error): void {
    this.currentState = "closed";
    this.closedBy = err;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.resendTimer = undefined;
    this.gapTimer = undefined;
    const conn = this.conn;
    this.conn = undefined;
    conn?.close();
    for (const ac of this.requests) ac.abort(err);
    this.requests.clear();
    this.outbox.rejectAll(this.closedError());
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private write(s: PendingSend): void {
    if (!this.conn?.send(s, s.writes > 0)) return;
    s.sentAt = Date.now();
    s.writes++;
  }

  /** One timer for the earliest unacknowledged SEND. */
  private scheduleResend(): void {
    this.cancel(this.resendTimer);
    this.resendTimer = undefined;
    if (this.currentState !== "connected") return;
    const next = this.outbox.nextDueAt(this.o.resendMs);
    if (next === undefined) return;
    this.resendTimer = this.later(Math.max(0, next - Date.now()), () => {
      this.resendTimer = undefined;
      for (const s of this.outbox.due(Date.now(), this.o.resendMs)) this.write(s);
      this.scheduleResend();
    });
  }

  private onSendack(p: SendackPacket): void {
    const settled = this.outbox.ack(p);
    if (!settled) return;
    if ("result" in settled) {
      const { send, result } = settled;
      this.inbox.sent(send.channelType, send.channelId, result.messageId, result.messageSeq);
      this.emit("ack", result);
    }
    this.scheduleResend();
  }

  private onLive(m: InboundMessage): void {
    if (this.inbox.live(m)) this.scheduleGapSync();
  }

  /**
   * Seqs missing behind a live message: if they are still missing after gapSyncMs, sync. `always`
   * syncs regardless (a RECV we could not read leaves no gap until a later message comes).
   */
  private scheduleGapSync(always = false): void {
    if (!this.o.sync || this.isClosed) return;
    this.gapSyncAlways ||= always;
    if (this.gapTimer !== undefined) return;
    this.gapTimer = this.later(this.o.gapSyncMs, () => {
      this.gapTimer = undefined;
      const due = this.gapSyncAlways || this.inbox.hasGaps();
      this.gapSyncAlways = false;
      if (due && this.currentState === "connected") void this.sync();
    });
  }

  /** Catches up over HTTP; live messages wait until it is done so they never overtake older ones. */
  private async sync(): Promise<void> {
    if (!this.o.sync || this.isClosed) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    this.inbox.hold();
    let completed = false;
    try {
      do {
        this.syncAgain = false;
        await syncMissed(this.post, this.o.uid, this.inbox.marks(), this.o.syncInitialLimit, (c) => {
          if (!this.isClosed) this.inbox.synced(c);
        });
      } while (this.syncAgain && !this.isClosed);
      completed = true;
    } catch (err) {
      if (!this.isClosed) {
        this.o.logger.warn({ err }, "sync failed");
        this.emit("error", new Error(`sync failed: ${(err as Error).message}`, { cause: err }));
      }
    } finally {
      this.syncing = false;
    }
    if (this.isClosed) return;
    if (this.inbox.release(completed)) this.scheduleGapSync();
  }
}
