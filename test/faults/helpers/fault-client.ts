/**
 * A WuKongIM client over raw TCP on our own codec (src/protocol), built to count: it keeps every
 * message the application would show (keyed by message_id), counts RECVs the server sent twice,
 * retries unacknowledged SENDs with the same client_msg_no after a reconnect, reconnects with
 * full-jitter backoff to whatever address `addr()` names (the route API, as an app does), and syncs
 * channels over HTTP from the last seq it holds without a hole. It can also stop reading entirely
 * (a slow consumer). No sleeps without a bound; every wait has a deadline.
 */
import net from "node:net";
import {
  type ConnackPacket,
  type CryptoSession,
  type DisconnectPacket,
  FrameDecoder,
  LATEST_VERSION,
  type Packet,
  PacketType,
  ReasonCode,
  type RecvPacket,
  type SendPacket,
  type SendackPacket,
  createClientKeys,
  decryptPayload,
  deriveClientSession,
  encodeConnect,
  encodePing,
  encodeRecvack,
  encodeSend,
  encryptPayload,
  recvMsgKey,
  recvackFor,
  sendMsgKey,
} from "../../../src/protocol/index.js";
import type { ApiClient } from "../../helpers/server.js";

export interface Backoff {
  baseMs: number;
  capMs: number;
  /** Attempts in a row before giving up (the client then stays down). */
  maxAttempts: number;
}

export interface FaultClientOptions {
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
  onConnected?: (client: FaultClient) => void | Promise<void>;
  /** Stop reading the socket right after CONNACK: a consumer that never reads. */
  neverRead?: boolean;
  /** Deadline for TCP connect + CONNACK. */
  connectTimeoutMs?: number;
}

/** A message as the application shows it. */
export interface Shown {
  messageId: string;
  seq: number;
  /** "<channel_type>:<channel_id>" as this user sees the channel (the peer's uid for person channels). */
  channel: string;
  fromUid: string;
  clientMsgNo: string;
  text: string;
  via: "recv" | "sync" | "self";
  /** Unix ms when this client got it. */
  at: number;
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
  resolve: (r: SendResult) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class ConnectRefused extends Error {
  constructor(readonly reasonCode: number) {
    super(`CONNACK refused with reason ${reasonCode}`);
  }
}

export const channelKey = (channelType: number, channelId: string) => `${channelType}:${channelId}`;

let sourceCounter = 0;

export class FaultClient {
  readonly uid: string;
  /** Messages the application shows, by message_id: each at most once. */
  readonly shown = new Map<string, Shown>();
  /** Per channel: the seqs held. */
  readonly seqs = new Map<string, Set<number>>();
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

  private socket: net.Socket | undefined;
  private crypto: CryptoSession | undefined;
  private version = LATEST_VERSION;
  private open = false;
  private stopped = false;
  private reconnecting = false;
  private catchingUp = false;
  private clientSeq = 0;
  private msgCounter = 0;
  private readonly pending = new Map<string, PendingSend>();
  /** client_seq -> client_msg_no, for the current connection. */
  private inflight = new Map<number, string>();
  private readonly wakers = new Set<() => void>();

  constructor(readonly o: FaultClientOptions) {
    this.uid = o.uid;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Connected and done with onConnected (the catch-up sync). */
  get isReady(): boolean {
    return this.open && !this.catchingUp;
  }

  get pendingSends(): number {
    return this.pending.size;
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
    const i = addr.lastIndexOf(":");
    const host = addr.slice(0, i).replace(/^\[|\]$/g, "");
    const port = Number(addr.slice(i + 1));
    const socket = net.connect({ host, port, localAddress: this.o.localAddress });
    socket.setNoDelay(true);
    const timeoutMs = this.o.connectTimeoutMs ?? 10_000;
    const decoder = new FrameDecoder({ version: LATEST_VERSION });
    const keys = createClientKeys();
    let connack: ConnackPacket | undefined;
    let settle: ((err?: Error) => void) | undefined;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`${this.uid}: no CONNACK from ${addr} within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err?: Error) => {
        clearTimeout(timer);
        settle = undefined;
        if (err) reject(err);
        else resolve();
      };
      settle = fail;
    });
    socket.on("error", (err) => {
      this.lastError = err;
    });
    socket.on("data", (chunk: Buffer) => {
      let packets: Packet[];
      try {
        packets = decoder.push(chunk);
      } catch (err) {
        this.lastError = err as Error;
        socket.destroy();
        return;
      }
      for (const p of packets) {
        if (p.type === PacketType.CONNACK && !connack) {
          connack = p;
          this.connack = p;
          if (p.reasonCode !== ReasonCode.Success) {
            this.refusals.push(p.reasonCode);
            this.stats.refused++;
            socket.destroy();
            settle?.(new ConnectRefused(p.reasonCode));
            continue;
          }
          this.crypto = deriveClientSession(keys.privateKey, p.serverKey, p.salt);
          this.version = p.serverVersion ?? LATEST_VERSION;
          decoder.setVersion(this.version);
          this.socket = socket;
          this.open = true;
          this.inflight = new Map();
          this.stats.connects++;
          this.connectedAt.push(Date.now());
          if (this.o.neverRead) socket.pause();
          settle?.();
          continue;
        }
        if (socket === this.socket) this.onPacket(p);
      }
      this.wake();
    });
    socket.on("close", () => {
      settle?.(
        new Error(`${this.uid}: connection to ${addr} closed before CONNACK${this.lastError ? ` (${this.lastError.message})` : ""}`),
      );
      if (socket !== this.socket) return;
      this.open = false;
      this.socket = undefined;
      this.stats.drops++;
      this.wake();
      if (!this.stopped && this.o.reconnect) void this.reconnectLoop();
    });
    socket.once("connect", () => {
      socket.write(
        encodeConnect(
          {
            type: PacketType.CONNECT,
            version: LATEST_VERSION,
            deviceFlag: this.o.deviceFlag ?? 0,
            deviceId: `${this.uid}-${this.o.deviceFlag ?? 0}`,
            uid: this.uid,
            token: this.o.token ?? "",
            clientTimestamp: Date.now(),
            clientKey: keys.publicKeyBase64,
          },
          LATEST_VERSION,
        ),
      );
    });
    try {
      await done;
    } catch (err) {
      socket.destroy();
      throw err;
    }
    if (this.stopped) {
      socket.destroy();
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
        this.wake();
      }
    }
  }

  private async reconnectLoop(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    const b = this.o.reconnect!;
    try {
      for (let attempt = 0; !this.stopped && !this.open; attempt++) {
        if (attempt >= b.maxAttempts) {
          this.gaveUp = true;
          this.wake();
          return;
        }
        // Full jitter: uniform in [0, min(cap, base * 2^attempt)].
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(b.capMs, b.baseMs * 2 ** attempt)));
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

  /** Reconnect now (e.g. after `drop()`), with the configured backoff. */
  reconnectNow(): void {
    if (!this.open && !this.stopped) void this.reconnectLoop();
  }

  private onPacket(p: Packet): void {
    switch (p.type) {
      case PacketType.RECV:
        this.onRecv(p);
        return;
      case PacketType.SENDACK:
        this.onSendack(p);
        return;
      case PacketType.DISCONNECT:
        this.disconnects.push((p as DisconnectPacket).reasonCode);
        return;
    }
  }

  private onRecv(p: RecvPacket): void {
    this.stats.recvFrames++;
    const crypto = this.crypto!;
    if (recvMsgKey(crypto, p) !== p.msgKey) {
      // Dropped unacknowledged, as the JS SDK does: the server resends or the client syncs it.
      this.stats.recvBadKey++;
      return;
    }
    this.socket?.write(encodeRecvack(recvackFor(p), this.version));
    const id = String(p.messageId);
    if (this.shown.has(id)) {
      this.stats.recvDuplicates++;
      return;
    }
    this.record({
      messageId: id,
      seq: p.messageSeq,
      channel: channelKey(p.channelType, p.channelId),
      fromUid: p.fromUid,
      clientMsgNo: p.clientMsgNo,
      text: decryptPayload(crypto, p.payload).toString("utf8"),
      via: "recv",
    });
  }

  private record(m: Omit<Shown, "at">): void {
    this.shown.set(m.messageId, { ...m, at: Date.now() });
    let set = this.seqs.get(m.channel);
    if (!set) {
      set = new Set();
      this.seqs.set(m.channel, set);
    }
    set.add(m.seq);
  }

  private onSendack(p: SendackPacket): void {
    const clientMsgNo = this.inflight.get(p.clientSeq);
    if (clientMsgNo === undefined) return;
    this.inflight.delete(p.clientSeq);
    const pending = this.pending.get(clientMsgNo);
    if (!pending) return;
    this.pending.delete(clientMsgNo);
    clearTimeout(pending.timer);
    const result: SendResult = {
      reasonCode: p.reasonCode,
      messageId: String(p.messageId),
      messageSeq: p.messageSeq,
      clientMsgNo,
      attempts: pending.attempts,
    };
    if (p.reasonCode === ReasonCode.Success && p.messageSeq > 0) {
      // The sender's app shows its own message too.
      this.record({
        messageId: result.messageId,
        seq: p.messageSeq,
        channel: channelKey(pending.channelType, pending.channelId),
        fromUid: this.uid,
        clientMsgNo,
        text: pending.text,
        via: "self",
      });
    }
    pending.resolve(result);
  }

  private writeSend(p: PendingSend): void {
    const crypto = this.crypto;
    const socket = this.socket;
    if (!this.open || !crypto || !socket) return;
    const clientSeq = ++this.clientSeq;
    const packet: SendPacket = {
      type: PacketType.SEND,
      dup: p.attempts > 0,
      syncOnce: false,
      redDot: true,
      noPersist: false,
      setting: 0,
      clientSeq,
      clientMsgNo: p.clientMsgNo,
      channelId: p.channelId,
      channelType: p.channelType,
      expire: 0,
      msgKey: "",
      payload: encryptPayload(crypto, Buffer.from(p.text, "utf8")),
    };
    packet.msgKey = sendMsgKey(crypto, packet);
    p.attempts++;
    this.inflight.set(clientSeq, p.clientMsgNo);
    socket.write(encodeSend(packet, this.version));
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
        reject(new Error(`${this.uid}: no SENDACK for ${clientMsgNo} within ${timeoutMs} ms (open: ${this.open})`));
      }, timeoutMs);
      const p: PendingSend = { channelId, channelType, text, clientMsgNo, attempts: 0, resolve, reject, timer };
      this.pending.set(clientMsgNo, p);
      this.writeSend(p);
    });
  }

  /** Writes raw bytes on the current connection (for hostile input). */
  writeRaw(bytes: Uint8Array): boolean {
    if (!this.socket || this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  ping(): void {
    this.socket?.write(encodePing());
  }

  /** The highest seq of `channel` below which this client holds every message. */
  contiguousSeq(channel: string): number {
    const set = this.seqs.get(channel);
    if (!set) return 0;
    let s = 0;
    while (set.has(s + 1)) s++;
    return s;
  }

  /**
   * Pull the channel from the last seq held without a hole (HTTP /channel/messagesync), page by
   * page; what is new is shown, what was already shown is counted as overlap. Returns how many new.
   */
  async sync(api: ApiClient, channelId: string, channelType: number, headers?: Record<string, string>, pageLimit = 500): Promise<number> {
    const channel = channelKey(channelType, channelId);
    let start = this.contiguousSeq(channel);
    let added = 0;
    for (let page = 0; page < 1000; page++) {
      this.stats.syncCalls++;
      const body = {
        login_uid: this.uid,
        channel_id: channelId,
        channel_type: channelType,
        start_message_seq: start,
        end_message_seq: 0,
        limit: pageLimit,
        pull_mode: 1,
      };
      // A read: safe to ask again when the connection broke under load.
      let res: Awaited<ReturnType<ApiClient["post"]>> | undefined;
      for (let attempt = 0; !res; attempt++) {
        try {
          res = await api.post("/channel/messagesync", body, headers);
        } catch (err) {
          if (attempt >= 3) throw err;
          this.stats.syncRetries++;
          await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
        }
      }
      if (res.status !== 200) throw new Error(`${this.uid}: messagesync ${channel} answered ${res.status} ${JSON.stringify(res.body)}`);
      const messages = res.body.messages as {
        message_idstr: string;
        message_seq: number;
        from_uid: string;
        client_msg_no: string;
        payload: string;
      }[];
      let maxSeq = start;
      for (const m of messages) {
        maxSeq = Math.max(maxSeq, m.message_seq);
        if (m.message_seq <= start) continue;
        if (this.shown.has(m.message_idstr)) {
          this.stats.syncedOverlap++;
          continue;
        }
        this.record({
          messageId: m.message_idstr,
          seq: m.message_seq,
          channel,
          fromUid: m.from_uid,
          clientMsgNo: m.client_msg_no,
          text: Buffer.from(m.payload, "base64").toString("utf8"),
          via: "sync",
        });
        this.stats.syncedNew++;
        added++;
      }
      if (res.body.more !== 1 || maxSeq === start) break;
      start = maxSeq;
    }
    return added;
  }

  /** Messages shown twice under different ids for one (from_uid, client_msg_no): a server-side double store. */
  appDuplicates(): number {
    const keys = new Set<string>();
    let dups = 0;
    for (const m of this.shown.values()) {
      const key = `${m.fromUid}\u0000${m.clientMsgNo}`;
      if (keys.has(key)) dups++;
      keys.add(key);
    }
    return dups;
  }

  /** Resolves once `check` is true (re-checked on every packet, close and connect), or rejects after timeoutMs. */
  waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wakers.delete(wake);
        reject(new Error(`${this.uid}: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const wake = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      this.wakers.add(wake);
      wake();
    });
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  /** Drop the connection abruptly (a network blip); reconnects if configured and `andReconnect`. */
  drop(andReconnect = true): void {
    const socket = this.socket;
    if (!socket) return;
    if (!andReconnect) this.stopped = true;
    socket.destroy();
  }

  /** Closed for good: no reconnect, pending sends rejected. */
  close(): void {
    this.stopped = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`${this.uid}: closed`));
    }
    this.pending.clear();
    this.socket?.destroy();
    this.open = false;
  }
}

/** 127.0.0.1 .. 127.0.0.n in turn, to spread many client sockets over source addresses. */
export function nextSourceAddress(n = 8): string {
  sourceCounter = (sourceCounter % n) + 1;
  return `127.0.0.${sourceCounter}`;
}
