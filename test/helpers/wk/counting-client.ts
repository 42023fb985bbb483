/**
 * A client built to count, on client.ts: it keeps every message the application would show (keyed
 * by message_id), counts RECVs the server sent twice, retries unacknowledged SENDs with the same
 * client_msg_no after a reconnect, reconnects with full-jitter backoff to whatever address
 * `addr()` names (the route API, as an app does), and syncs channels over HTTP from the last seq it
 * holds without a hole. It can also stop reading entirely (a slow consumer). Every wait has a deadline.
 */
import { type ConnackPacket, type Packet, PacketType, ReasonCode } from "../../../src/protocol/index.js";
import type { ApiClient } from "../server.js";
import { Waiters, sleep } from "../wait.js";
import { AppView, type Shown, channelKey } from "./app-view.js";
import { Client, type Received } from "./client.js";

export { type Shown, channelKey } from "./app-view.js";

export interface Backoff {
  baseMs: number;
  capMs: number;
  /** Attempts in a row before giving up (the client then stays down). */
  maxAttempts: number;
}

export interface CountingClientOptions {
  uid: string;
  token?: string;
  deviceFlag?: number;
  /** "host:port" of the node to connect to, asked again before every (re)connect. */
  addr: () => string | Promise<string>;
  /** Source address (127.0.0.x) for the socket. */
  localAddress?: string;
  /** Reconnect after a drop (default: no). */
  reconnect?: Backoff;
  /** Runs after each successful CONNACK (e.g. a sync); errors are counted, not thrown. */
  onConnected?: (client: CountingClient) => void | Promise<void>;
  /** Stop reading the socket right after CONNACK: a consumer that never reads. */
  neverRead?: boolean;
  /** Deadline for TCP connect + CONNACK (default 10 s). */
  connectTimeoutMs?: number;
}

export interface SendResult {
  reasonCode: number;
  messageId: string;
  messageSeq: number;
  clientMsgNo: string;
  /** How many times the SEND went on the wire (more than 1: retried after a reconnect). */
  attempts: number;
}

interface PendingSend {
  channelId: string;
  channelType: number;
  text: string;
  clientMsgNo: string;
  attempts: number;
  timeoutMs: number;
  resolve: (r: SendResult) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class ConnectRefused extends Error {
  constructor(readonly reasonCode: number) {
    super(`CONNACK refused with reason ${reasonCode}`);
  }
}

let sourceCounter = 0;

/** 127.0.0.1 .. 127.0.0.n in turn, to spread many client sockets over source addresses. */
export function nextSourceAddress(n = 8): string {
  sourceCounter = (sourceCounter % n) + 1;
  return `127.0.0.${sourceCounter}`;
}

export class CountingClient {
  readonly uid: string;
  /** Messages the application shows, by message_id: each at most once. */
  readonly shown: Map<string, Shown>;
  readonly stats = {
    connects: 0,
    connectFailures: 0,
    refused: 0,
    drops: 0,
    recvFrames: 0,
    /** RECVs for a message_id already shown (the server sent it again; hidden from the application). */
    recvDuplicates: 0,
    recvBadKey: 0,
    syncCalls: 0,
    /** Sync requests asked again after a network error. */
    syncRetries: 0,
    syncedNew: 0,
    /** Messages a sync returned that were already shown. */
    syncedOverlap: 0,
    sendRetries: 0,
    callbackErrors: 0,
  };
  /** Reason codes of DISCONNECT packets received, and of refused CONNACKs. */
  readonly disconnects: number[] = [];
  readonly refusals: number[] = [];
  connack: ConnackPacket | undefined;
  /** Unix ms of each successful CONNACK. */
  readonly connectedAt: number[] = [];
  lastError: Error | undefined;
  /** Gave up reconnecting after maxAttempts. */
  gaveUp = false;

  /** The current connection, from its successful CONNACK until it closes. */
  private conn: Client | undefined;
  private stopped = false;
  private reconnecting = false;
  private catchingUp = false;
  private msgCounter = 0;
  private readonly pending = new Map<string, PendingSend>();
  private readonly waiters: Waiters;
  private readonly view: AppView;

  constructor(readonly o: CountingClientOptions) {
    this.uid = o.uid;
    this.waiters = new Waiters(o.uid);
    this.view = new AppView(o.uid, this.stats);
    this.shown = this.view.shown;
  }

  get isOpen(): boolean {
    return this.conn !== undefined;
  }

  /** Connected and done with onConnected (the catch-up sync). */
  get isReady(): boolean {
    return this.isOpen && !this.catchingUp;
  }

  /** First connection: resolves on CONNACK success, rejects otherwise (also with reconnect on). */
  async start(): Promise<void> {
    await this.connectOnce();
  }

  /**
   * Connect and wait for CONNACK. Resolves with the CONNACK whatever its code (check `refusals`),
   * for races where a refusal is an expected outcome.
   */
  async tryConnect(): Promise<ConnackPacket | undefined> {
    try {
      await this.connectOnce();
    } catch (err) {
      if (!(err instanceof ConnectRefused)) throw err;
    }
    return this.connack;
  }

  private async connectOnce(): Promise<void> {
    const addr = await this.o.addr();
    const timeoutMs = this.o.connectTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const c = await Client.open(addr, { localAddress: this.o.localAddress, timeoutMs, keepPackets: false, keepRecvs: false });
    // Hooked before the CONNECT: packets glued behind the CONNACK are this connection's too.
    c.onPacket = (p) => this.onPacket(c, p);
    c.onRecv = (r) => {
      if (c === this.conn) this.onRecv(r);
    };
    c.onClose = () => {
      if (c.socketError ?? c.decodeError) this.lastError = c.socketError ?? c.decodeError;
      if (c !== this.conn) return;
      this.conn = undefined;
      this.stats.drops++;
      this.waiters.wake();
      if (!this.stopped && this.o.reconnect) void this.reconnectLoop();
    };
    let connack: ConnackPacket;
    try {
      connack = await c.handshake({
        uid: this.uid,
        token: this.o.token,
        deviceFlag: this.o.deviceFlag,
        deviceId: `${this.uid}-${this.o.deviceFlag ?? 0}`,
        timeoutMs: Math.max(1, deadline - Date.now()),
      });
    } catch (err) {
      c.close();
      throw new Error(`${(err as Error).message} from ${addr}${c.socketError ? ` (${c.socketError.message})` : ""}`);
    }
    if (connack.reasonCode !== ReasonCode.Success) {
      c.close();
      throw new ConnectRefused(connack.reasonCode);
    }
    if (this.stopped) {
      c.close();
      throw new Error(`${this.uid}: closed while connecting`);
    }
    // Unacknowledged sends go again with the same client_msg_no: the server answers a stored one with its first ids.
    for (const p of this.pending.values()) {
      if (p.attempts > 0) this.stats.sendRetries++;
      this.writeSend(p);
    }
    if (this.o.onConnected) {
      this.catchingUp = true;
      try {
        await this.o.onConnected(this);
      } catch (err) {
        this.stats.callbackErrors++;
        this.lastError = err as Error;
      } finally {
        this.catchingUp = false;
        this.waiters.wake();
      }
    }
  }

  private onPacket(c: Client, p: Packet): void {
    if (p.type === PacketType.CONNACK) {
      this.connack = p;
      if (p.reasonCode !== ReasonCode.Success) {
        this.refusals.push(p.reasonCode);
        this.stats.refused++;
        return;
      }
      // At once: what follows in the same read belongs to this connection.
      this.conn = c;
      this.stats.connects++;
      this.connectedAt.push(Date.now());
      if (this.o.neverRead) c.pause();
    } else if (p.type === PacketType.DISCONNECT && c === this.conn) this.disconnects.push(p.reasonCode);
    this.waiters.wake();
  }

  private async reconnectLoop(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    const b = this.o.reconnect!;
    try {
      for (let attempt = 0; !this.stopped && !this.isOpen; attempt++) {
        if (attempt >= b.maxAttempts) {
          this.gaveUp = true;
          this.waiters.wake();
          return;
        }
        // Full jitter: uniform in [0, min(cap, base * 2^attempt)].
        await sleep(Math.random() * Math.min(b.capMs, b.baseMs * 2 ** attempt));
        if (this.stopped) return;
        try {
          await this.connectOnce();
        } catch (err) {
          this.stats.connectFailures++;
          this.lastError = err as Error;
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private onRecv(r: Received): void {
    this.stats.recvFrames++;
    // A bad msg_key is dropped unacknowledged, as the JS SDK does: the server resends or the client syncs it.
    if (!r.msgKeyOk) this.stats.recvBadKey++;
    else if (this.shown.has(String(r.packet.messageId))) this.stats.recvDuplicates++;
    else {
      const p = r.packet;
      this.view.record({
        messageId: String(p.messageId),
        seq: p.messageSeq,
        channel: channelKey(p.channelType, p.channelId),
        fromUid: p.fromUid,
        clientMsgNo: p.clientMsgNo,
        text: r.text,
        via: "recv",
      });
    }
    this.waiters.wake();
  }

  /** One attempt on the current connection; a lost connection leaves it pending for the next. */
  private writeSend(p: PendingSend): void {
    const conn = this.conn;
    if (!conn) return;
    const dup = p.attempts > 0;
    p.attempts++;
    conn.send(p.channelId, p.channelType, p.text, { clientMsgNo: p.clientMsgNo, packet: { dup }, timeoutMs: p.timeoutMs }).then(
      (ack) => {
        if (this.pending.get(p.clientMsgNo) !== p) return;
        this.pending.delete(p.clientMsgNo);
        clearTimeout(p.timer);
        const result: SendResult = {
          reasonCode: ack.reasonCode,
          messageId: String(ack.messageId),
          messageSeq: ack.messageSeq,
          clientMsgNo: p.clientMsgNo,
          attempts: p.attempts,
        };
        // The sender's app shows its own message too.
        if (ack.reasonCode === ReasonCode.Success && ack.messageSeq > 0) {
          const channel = channelKey(p.channelType, p.channelId);
          this.view.record({
            messageId: result.messageId,
            seq: ack.messageSeq,
            channel,
            fromUid: this.uid,
            clientMsgNo: p.clientMsgNo,
            text: p.text,
            via: "self",
          });
        }
        p.resolve(result);
        this.waiters.wake();
      },
      () => {},
    );
  }

  /**
   * Send a text message; resolves with its SENDACK (any reason code). Until then it is kept and
   * sent again after each reconnect with the same client_msg_no. Rejects after `timeoutMs`.
   */
  send(channelId: string, channelType: number, text: string, o: { clientMsgNo?: string; timeoutMs?: number } = {}): Promise<SendResult> {
    const clientMsgNo = o.clientMsgNo ?? `${this.uid}-${++this.msgCounter}-${Math.random().toString(36).slice(2, 8)}`;
    return new Promise((resolve, reject) => {
      const timeoutMs = o.timeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        this.pending.delete(clientMsgNo);
        reject(new Error(`${this.uid}: no SENDACK for ${clientMsgNo} within ${timeoutMs} ms (open: ${this.isOpen})`));
      }, timeoutMs);
      const p: PendingSend = { channelId, channelType, text, clientMsgNo, attempts: 0, timeoutMs, resolve, reject, timer };
      this.pending.set(clientMsgNo, p);
      this.writeSend(p);
    });
  }

  /** Pulls the channel over HTTP from the last seq held without a hole; returns how many messages were new. */
  sync(api: ApiClient, channelId: string, channelType: number, headers?: Record<string, string>, pageLimit = 500): Promise<number> {
    return this.view.sync(api, channelId, channelType, headers, pageLimit);
  }

  /** Messages shown twice under different ids for one (from_uid, client_msg_no): a server-side double store. */
  appDuplicates(): number {
    return this.view.appDuplicates();
  }

  /** Resolves once `check` is true (re-checked on every packet, close and connect), or rejects after timeoutMs. */
  async waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    await this.waiters.waitFor(what, () => (check() ? true : undefined), timeoutMs);
  }

  /** Drop the connection abruptly (a network blip); it comes back if reconnect is configured. */
  drop(): void {
    this.conn?.close();
  }

  /** Closed for good: no reconnect, pending sends rejected. */
  close(): void {
    this.stopped = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`${this.uid}: closed`));
    }
    this.pending.clear();
    const conn = this.conn;
    this.conn = undefined;
    conn?.close();
  }
}
