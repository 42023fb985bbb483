/**
 * One connection to one node: open the transport, CONNECT with a fresh X25519 key, wait for
 * CONNACK (bounded by connectTimeoutMs), then PING every heartbeatMs and drop the connection when
 * nothing comes back within pongTimeoutMs. RECVs are checked (msg_key), decrypted and acked here;
 * what they mean (dedupe, order, sync) is the client's business. Ends once, through `lost`.
 */
import { type Packet, encodePacket } from "../protocol/codec.js";
import { LATEST_VERSION, PacketType, ReasonCode } from "../protocol/constants.js";
import { FrameDecoder } from "../protocol/frame-decoder.js";
import { PING_BYTE } from "../protocol/ping.js";
import type { RecvPacket } from "../protocol/recv.js";
import { encodeRecvack, recvackFor } from "../protocol/recvack.js";
import type { SendackPacket } from "../protocol/sendack.js";
import { ClientCipher, createKeyPair } from "./client-crypto.js";
import type { ClientTransport, TransportFactory } from "./transport.js";
import type { InboundMessage } from "./types.js";

export interface ConnectionParams {
  addr: string;
  open: TransportFactory;
  uid: string;
  token: string;
  deviceFlag: number;
  deviceId: string;
  connectTimeoutMs: number;
  heartbeatMs: number;
  pongTimeoutMs: number;
}

export interface ConnectionEnd {
  reason: string;
  /** From a refused CONNACK or a DISCONNECT. */
  reasonCode?: number;
  /** The server answered CONNECT with a failure code. */
  refused: boolean;
  /** CONNACK had succeeded before the end. */
  wasReady: boolean;
}

export interface ConnectionHandlers {
  ready(info: { nodeId: number; version: number }): void;
  sendack(p: SendackPacket): void;
  message(m: InboundMessage): void;
  /** A RECV that failed its msg_key check or did not decrypt (acked anyway: it can be synced). */
  badMessage(messageId: number, messageSeq: number, problem: string): void;
  lost(end: ConnectionEnd): void;
}

/** What a SEND needs; the client's outbox keeps these across retries. */
export interface OutgoingSend {
  clientSeq: number;
  clientMsgNo: string;
  channelId: string;
  channelType: number;
  payload: Uint8Array;
  noPersist: boolean;
  redDot: boolean;
}

const PING_FRAME = Uint8Array.of(PING_BYTE);

export class Connection {
  private transport: ClientTransport | undefined;
  private cipher: ClientCipher | undefined;
  private state: "new" | "opening" | "ready" | "ended" = "new";
  private version = LATEST_VERSION;
  private readonly decoder = new FrameDecoder({ version: LATEST_VERSION });
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private lastHeard = 0;

  constructor(
    private readonly p: ConnectionParams,
    private readonly h: ConnectionHandlers,
  ) {}

  get addr(): string {
    return this.p.addr;
  }

  /** A getter so TypeScript does not narrow the state away across handler calls. */
  private get ended(): boolean {
    return this.state === "ended";
  }

  get isReady(): boolean {
    return this.state === "ready";
  }

  /** Opens the transport and sends CONNECT once it is up. Call once, after keeping a reference. */
  start(): void {
    if (this.state !== "new") return;
    this.state = "opening";
    const keys = createKeyPair();
    this.connectTimer = setTimeout(
      () => this.end({ reason: `no CONNACK from ${this.p.addr} within ${this.p.connectTimeoutMs} ms` }),
      this.p.connectTimeoutMs,
    );
    try {
      this.transport = this.p.open(this.p.addr, {
        onOpen: () => this.write(this.connectFrame(keys.publicKeyBase64)),
        onData: (chunk) => this.onData(chunk, keys),
        onClose: (reason) => this.end({ reason }),
      });
    } catch (err) {
      this.end({ reason: `cannot open ${this.p.addr}: ${(err as Error).message}` });
    }
  }

  /** Writes a SEND (encrypted, with its msg_key); false when the connection is not ready. */
  send(s: OutgoingSend, dup: boolean): boolean {
    const cipher = this.cipher;
    if (this.state !== "ready" || !cipher) return false;
    const wire = cipher.encrypt(s.payload);
    const msgKey = cipher.msgKey(`${s.clientSeq}${s.clientMsgNo}${s.channelId}${s.channelType}`, wire);
    return this.write(
      encodePacket(
        {
          type: PacketType.SEND,
          dup,
          syncOnce: false,
          redDot: s.redDot,
          noPersist: s.noPersist,
          setting: 0,
          clientSeq: s.clientSeq,
          clientMsgNo: s.clientMsgNo,
          channelId: s.channelId,
          channelType: s.channelType,
          expire: 0,
          msgKey,
          payload: wire,
        },
        this.version,
      ),
    );
  }

  /** Ends the connection from our side (a polite DISCONNECT first when it is up). `lost` is not called. */
  close(): void {
    if (this.state === "ended") return;
    if (this.state === "ready")
      this.write(encodePacket({ type: PacketType.DISCONNECT, reasonCode: ReasonCode.Success, reason: "client closed" }, this.version));
    this.state = "ended";
    this.stopTimers();
    this.transport?.close();
  }

  private write(bytes: Uint8Array): boolean {
    if (this.state === "ended" || !this.transport) return false;
    this.transport.write(bytes);
    return true;
  }

  private connectFrame(clientKey: string): Uint8Array {
    return encodePacket(
      {
        type: PacketType.CONNECT,
        version: LATEST_VERSION,
        deviceFlag: this.p.deviceFlag,
        deviceId: this.p.deviceId,
        uid: this.p.uid,
        token: this.p.token,
        clientTimestamp: Date.now(),
        clientKey,
      },
      LATEST_VERSION,
    );
  }

  private onData(chunk: Uint8Array, keys: ReturnType<typeof createKeyPair>): void {
    if (this.state === "ended") return;
    this.lastHeard = Date.now();
    let packets: Packet[];
    try {
      packets = this.decoder.push(chunk);
    } catch (err) {
      this.end({ reason: `bad frame from the server: ${(err as Error).message}` });
      return;
    }
    for (const packet of packets) {
      if (this.ended) return;
      this.onPacket(packet, keys);
    }
  }

  private onPacket(p: Packet, keys: ReturnType<typeof createKeyPair>): void {
    switch (p.type) {
      case PacketType.CONNACK: {
        if (this.state !== "opening") return;
        if (p.reasonCode !== ReasonCode.Success) {
          this.end({ reason: `connect refused (reason ${p.reasonCode})`, reasonCode: p.reasonCode, refused: true });
          return;
        }
        try {
          this.cipher = new ClientCipher(keys, p.serverKey, p.salt);
        } catch (err) {
          this.end({ reason: `bad CONNACK keys: ${(err as Error).message}` });
          return;
        }
        if (p.hasServerVersion && p.serverVersion) this.version = Math.min(p.serverVersion, LATEST_VERSION);
        this.state = "ready";
        clearTimeout(this.connectTimer);
        this.startHeartbeat();
        this.h.ready({ nodeId: p.nodeId ?? 0, version: this.version });
        return;
      }
      case PacketType.SENDACK:
        if (this.state === "ready") this.h.sendack(p);
        return;
      case PacketType.RECV:
        if (this.state === "ready") this.onRecv(p);
        return;
      case PacketType.DISCONNECT:
        this.end({ reason: `disconnected by the server: ${p.reason}`, reasonCode: p.reasonCode });
        return;
      default:
        return; // PONG (lastHeard is enough), SUBACK, EVENT
    }
  }

  private onRecv(p: RecvPacket): void {
    const cipher = this.cipher;
    if (!cipher) return;
    // Acked even when it fails the check: the server would resend the same bytes; the client syncs it instead.
    this.write(encodeRecvack(recvackFor(p), this.version));
    const fields = `${p.messageId}${p.messageSeq}${p.clientMsgNo}${p.timestamp}${p.fromUid}${p.channelId}${p.channelType}`;
    if (cipher.msgKey(fields, p.payload) !== p.msgKey) {
      this.h.badMessage(p.messageId, p.messageSeq, "failed its msg_key check");
      return;
    }
    let payload: Uint8Array;
    try {
      payload = cipher.decrypt(p.payload);
    } catch (err) {
      this.h.badMessage(p.messageId, p.messageSeq, `did not decrypt: ${(err as Error).message}`);
      return;
    }
    const { messageId, messageSeq, clientMsgNo, fromUid, channelId, channelType, timestamp } = p;
    this.h.message({ messageId, messageSeq, clientMsgNo, fromUid, channelId, channelType, timestamp, payload });
  }

  /** PING every heartbeatMs; a PING that nothing answers within pongTimeoutMs ends the connection. */
  private startHeartbeat(): void {
    this.heartbeat = setInterval(() => {
      const sentAt = Date.now();
      this.write(PING_FRAME);
      if (this.pongTimer) return;
      this.pongTimer = setTimeout(() => {
        this.pongTimer = undefined;
        if (this.lastHeard < sentAt) this.end({ reason: `no answer to PING within ${this.p.pongTimeoutMs} ms` });
      }, this.p.pongTimeoutMs);
    }, this.p.heartbeatMs);
  }

  private stopTimers(): void {
    clearTimeout(this.connectTimer);
    clearInterval(this.heartbeat);
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
  }

  private end(e: { reason: string; reasonCode?: number; refused?: boolean }): void {
    if (this.state === "ended" || this.state === "new") return;
    const wasReady = this.state === "ready";
    this.state = "ended";
    this.stopTimers();
    this.transport?.close();
    this.h.lost({ reason: e.reason, reasonCode: e.reasonCode, refused: e.refused ?? false, wasReady });
  }
}
