import type { Presence, PresenceBinding } from "../cluster/presence.js";
import { type Messenger, SendRejectedError } from "../messaging/messenger.js";
import { type SwitchboardMetrics, reasonName } from "../metrics/metrics.js";
import {
  type ConnectPacket,
  type CryptoSession,
  FrameDecoder,
  LATEST_VERSION,
  MIN_VERSION,
  type Packet,
  PacketType,
  ProtocolError,
  ReasonCode,
  type RecvPacket,
  type SendPacket,
  decryptPayload,
  deriveSession,
  encodeConnack,
  encodeDisconnect,
  encodePong,
  encodeRecv,
  encodeSendack,
  encodeSuback,
  encryptPayload,
  recvMsgKey,
  sendMsgKey,
} from "../protocol/index.js";
import { viewChannelId } from "../store/channel-id.js";
import type { StoredMessage, TokenStore } from "../store/message-store.js";
import { InvalidArgumentError, StoreUnavailableError, reasonCodeOf } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { uidProblem } from "../util/validate.js";
import type { SessionHandle } from "./local-sessions.js";
import { TokenBucket } from "./rate-limit.js";
import { RecvTracker } from "./recv-tracker.js";
import type { Connection } from "./transport.js";

/** SENDs over the rate limit in a row before the connection is dropped. */
export const RATE_LIMIT_STRIKES = 50;
/**
 * Packets a client may send behind its CONNECT before the CONNACK (they wait while the token and
 * presence are checked). A real client waits for the CONNACK; one that floods first is cut off
 * rather than queued without bound.
 */
export const MAX_PACKETS_BEFORE_CONNACK = 128;

export interface SessionLimits {
  tokenAuth: boolean;
  /**
   * Accept a CONNECT without client_key as a plaintext session (like WuKongIM's
   * disableEncryption, per connection): for clients on WSS/TLS, where AES on top buys nothing.
   * Plaintext RECVs of a fan-out are encoded once per protocol version and shared.
   */
  allowPlaintext: boolean;
  maxFrameBytes: number;
  sendRate: number;
}

/** What a session needs from its node. */
export interface SessionContext {
  nodeId: string;
  /** node_id sent in CONNACK (v4+): a number derived from the node's id. */
  nodeNumber: number;
  /** This run of the node (its start time): a binding is live only while this run is. */
  nodeIncarnation: number;
  limits: SessionLimits;
  tokens: TokenStore;
  presence: Presence;
  messenger: Messenger;
  metrics: SwitchboardMetrics;
  presenceTtlMs: number;
  logger: Logger;
  /** The session authenticated: index it, and kick whatever it displaced. */
  onAuthenticated(session: Session, displaced: PresenceBinding | undefined): void;
  onClosed(session: Session): void;
}

type State = "new" | "authenticating" | "open" | "closed";

/**
 * One client connection's protocol state machine: CONNECT/auth -> CONNACK, PING/PONG,
 * SEND -> store -> SENDACK, RECV -> RECVACK with resends, kicks and limits.
 */
export class Session implements SessionHandle {
  uid = "";
  deviceFlag = 0;
  deviceId = "";
  epoch = 0;
  version = LATEST_VERSION;
  /** Unix ms of the last byte received: the node closes idle sessions. */
  lastActivity = Date.now();
  readonly openedAt = Date.now();
  readonly recvs = new RecvTracker();

  private state: State = "new";
  private readonly decoder: FrameDecoder;
  private crypto: CryptoSession | undefined;
  private backlog: Packet[] = [];
  private readonly bucket: TokenBucket;
  private strikes = 0;
  /** Serializes the check-then-enqueue part of SENDs so a client's messages keep their order. */
  private sendChain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly conn: Connection,
    private readonly ctx: SessionContext,
  ) {
    this.decoder = new FrameDecoder({ maxFrameSize: ctx.limits.maxFrameBytes });
    this.bucket = new TokenBucket(ctx.limits.sendRate, ctx.limits.sendRate * 2);
  }

  get connId(): string {
    return this.conn.id;
  }

  get isOpen(): boolean {
    return this.state === "open";
  }

  /** No CONNECT has arrived yet (the auth timeout applies). */
  get awaitingConnect(): boolean {
    return this.state === "new";
  }

  /** A getter so TypeScript does not narrow it away across calls that change the state. */
  private get closed(): boolean {
    return this.state === "closed";
  }

  onData(chunk: Uint8Array): void {
    if (this.state === "closed") return;
    this.lastActivity = Date.now();
    let packets: Packet[];
    try {
      packets = this.decoder.push(chunk);
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.reason : ReasonCode.SystemError;
      this.fail(reason, `bad frame: ${(err as Error).message}`);
      return;
    }
    for (const packet of packets) {
      // handle() may close the session part-way through a batch of packets.
      if (this.closed) return;
      if (this.state !== "authenticating") this.handle(packet);
      else if (this.backlog.length < MAX_PACKETS_BEFORE_CONNACK) this.backlog.push(packet);
      else {
        this.fail(ReasonCode.RateLimit, `more than ${MAX_PACKETS_BEFORE_CONNACK} packets before the CONNACK`);
        return;
      }
    }
  }

  private handle(packet: Packet): void {
    if (this.state === "new") {
      if (packet.type !== PacketType.CONNECT) {
        this.fail(ReasonCode.AuthFail, `first packet must be CONNECT, got type ${packet.type}`);
        return;
      }
      this.state = "authenticating";
      this.connect(packet).catch((err) => {
        if (err instanceof StoreUnavailableError) {
          this.ctx.logger.warn({ connId: this.connId, reason: err.message }, "CONNECT refused: message store unavailable");
          this.refuse(ReasonCode.SystemError, "message store unavailable");
          return;
        }
        this.ctx.logger.error({ err, connId: this.connId }, "CONNECT handling failed");
        this.refuse(ReasonCode.SystemError, "internal error");
      });
      return;
    }
    switch (packet.type) {
      case PacketType.PING:
        this.conn.write(encodePong());
        return;
      case PacketType.SEND:
        this.onSend(packet);
        return;
      case PacketType.RECVACK:
        if (this.recvs.ack(packet.messageId)) this.ctx.metrics.recvAcks.inc();
        return;
      case PacketType.SUB:
        // Channel subscriptions are not part of this product: answer so the SDK does not wait.
        this.conn.write(
          encodeSuback(
            {
              type: PacketType.SUBACK,
              subNo: packet.subNo,
              channelId: packet.channelId,
              channelType: packet.channelType,
              action: packet.action,
              reasonCode: ReasonCode.NotSupportChannelType,
            },
            this.version,
          ),
        );
        return;
      case PacketType.DISCONNECT:
        this.close("client disconnected");
        return;
      case PacketType.CONNECT:
        this.fail(ReasonCode.AuthFail, "CONNECT sent twice on one connection");
        return;
      default:
        this.fail(ReasonCode.NotSupportHeader, `packet type ${packet.type} is not accepted from clients`);
    }
  }

  private async connect(p: ConnectPacket): Promise<void> {
    const requested = p.version === 0 ? LATEST_VERSION : p.version;
    if (requested < MIN_VERSION) {
      this.fail(ReasonCode.NotSupportHeader, `protocol version ${p.version} is not supported (${MIN_VERSION}-${LATEST_VERSION})`);
      return;
    }
    this.version = Math.min(requested, LATEST_VERSION);
    this.decoder.setVersion(this.version);
    this.uid = p.uid;
    this.deviceFlag = p.deviceFlag;
    this.deviceId = p.deviceId;
    const problem = uidProblem(p.uid);
    if (problem) return this.refuse(ReasonCode.AuthFail, `uid ${problem}`);
    if (!p.clientKey && !this.ctx.limits.allowPlaintext) return this.refuse(ReasonCode.ClientKeyIsEmpty, "client_key is empty");
    if (this.ctx.limits.tokenAuth) {
      const record = await this.ctx.tokens.getToken(p.uid, p.deviceFlag);
      if (!record || record.token !== p.token) return this.refuse(ReasonCode.AuthFail, "token does not match");
    }
    try {
      this.crypto = p.clientKey ? deriveSession(p.clientKey) : undefined;
    } catch (err) {
      return this.refuse(ReasonCode.AuthFail, `bad client_key: ${(err as Error).message}`);
    }
    if (this.state === "closed") return;
    this.epoch = await this.ctx.presence.nextEpoch(p.uid);
    const bound = await this.ctx.presence.bind(
      {
        uid: p.uid,
        nodeId: this.ctx.nodeId,
        deviceFlag: p.deviceFlag,
        connId: this.connId,
        epoch: this.epoch,
        incarnation: this.ctx.nodeIncarnation,
      },
      this.ctx.presenceTtlMs,
    );
    // The connection may have gone while presence was being written.
    if (this.closed) {
      await this.ctx.presence.unbind(p.uid, p.deviceFlag, this.epoch);
      return;
    }
    if (!bound.accepted) return this.refuse(ReasonCode.ConnectKick, "a newer login of this device exists");
    const now = Date.now();
    this.conn.write(
      encodeConnack(
        {
          type: PacketType.CONNACK,
          // WuKongIM's rule is `connect.version > 3`; version 0 ("latest") negotiates 5, so it must be told too.
          hasServerVersion: this.version > 3,
          serverVersion: this.version,
          timeDiff: now - p.clientTimestamp,
          reasonCode: ReasonCode.Success,
          serverKey: this.crypto?.serverKeyBase64 ?? "",
          salt: this.crypto?.salt ?? "",
          nodeId: this.ctx.nodeNumber,
        },
        this.version,
      ),
    );
    this.state = "open";
    this.ctx.onAuthenticated(this, bound.displaced);
    this.ctx.logger.debug({ uid: this.uid, device: this.deviceFlag, connId: this.connId, version: this.version }, "client connected");
    const backlog = this.backlog;
    this.backlog = [];
    for (const packet of backlog) this.handle(packet);
  }

  private onSend(p: SendPacket): void {
    if (!this.bucket.take()) {
      this.strikes++;
      this.sendAck(p, 0, 0, ReasonCode.RateLimit);
      if (this.strikes >= RATE_LIMIT_STRIKES) this.fail(ReasonCode.RateLimit, "send rate limit exceeded");
      return;
    }
    this.strikes = 0;
    let payload: Uint8Array = p.payload;
    const crypto = this.crypto;
    if (crypto) {
      if (sendMsgKey(crypto, p) !== p.msgKey) {
        this.sendAck(p, 0, 0, ReasonCode.MsgKeyError);
        return;
      }
      try {
        payload = decryptPayload(crypto, p.payload);
      } catch {
        this.sendAck(p, 0, 0, ReasonCode.PayloadDecodeError);
        return;
      }
    }
    const request = {
      fromUid: this.uid,
      channelId: p.channelId,
      channelType: p.channelType,
      clientMsgNo: p.clientMsgNo,
      header: { noPersist: p.noPersist, redDot: p.redDot, syncOnce: p.syncOnce },
      setting: p.setting,
      expire: p.expire ?? 0,
      topic: p.topic ?? "",
      payload,
      originConnId: this.connId,
    };
    const messenger = this.ctx.messenger;
    const committed = this.sendChain.then(async () => {
      const channelId = await messenger.authorize(request);
      return messenger.commit(request, channelId);
    });
    this.sendChain = committed.catch(() => undefined);
    committed.then(
      ({ result }) => this.sendAck(p, result.messageId, result.messageSeq, ReasonCode.Success),
      (err) => {
        // The reason comes from the one error table: a refused send its own reason, a field the
        // store cannot keep PayloadDecodeError, a store that cannot serve SystemError.
        if (err instanceof SendRejectedError) {
          // Expected: not a member, banned, no such group.
        } else if (err instanceof InvalidArgumentError) {
          this.ctx.logger.info({ uid: this.uid, reason: err.message }, "SEND refused: malformed field");
        } else if (err instanceof StoreUnavailableError) {
          // The operator's news (logged once by StoreHealth), not a bug per send.
          this.ctx.logger.debug({ uid: this.uid, reason: err.message }, "SEND not stored");
        } else {
          this.ctx.logger.error({ err, uid: this.uid }, "storing a SEND failed");
        }
        this.sendAck(p, 0, 0, reasonCodeOf(err));
      },
    );
  }

  private sendAck(p: SendPacket, messageId: number, messageSeq: number, reasonCode: number): void {
    if (this.state === "closed") return;
    this.conn.write(
      encodeSendack(
        { type: PacketType.SENDACK, messageId, clientSeq: p.clientSeq, messageSeq, reasonCode, clientMsgNo: p.clientMsgNo },
        this.version,
      ),
    );
  }

  /**
   * Push a stored message as a RECV, encrypted for this session, tracked until RECVACK. Plaintext
   * sessions take the frame from `shared` when another session of the fan-out built the same one.
   */
  deliver(message: StoredMessage, shared?: Map<string, Uint8Array>): void {
    if (this.state !== "open") return;
    const crypto = this.crypto;
    const own = message.fromUid === this.uid;
    const channelId = viewChannelId(this.uid, message.channelId, message.channelType);
    const key = crypto || !shared ? undefined : `${this.version}|${own ? 1 : 0}|${channelId}`;
    const cached = key === undefined ? undefined : shared!.get(key);
    const frame = cached ?? this.buildRecv(message, own, channelId);
    if (key !== undefined && !cached) shared!.set(key, frame);
    if (!this.conn.write(frame)) return;
    this.ctx.metrics.messagesOut.inc({ node: this.ctx.nodeId });
    this.recvs.track(message.messageId, frame, Date.now());
  }

  private buildRecv(message: StoredMessage, own: boolean, channelId: string): Uint8Array {
    const crypto = this.crypto;
    const payload = crypto ? encryptPayload(crypto, message.payload) : message.payload;
    const recv: RecvPacket = {
      type: PacketType.RECV,
      dup: false,
      noPersist: message.header.noPersist,
      // The sender's own devices get their message without an unread mark.
      redDot: message.header.redDot && !own,
      syncOnce: message.header.syncOnce,
      setting: message.setting & ~0x02,
      msgKey: "",
      fromUid: message.fromUid,
      channelId,
      channelType: message.channelType,
      expire: message.expire,
      clientMsgNo: message.clientMsgNo,
      messageId: message.messageId,
      messageSeq: message.messageSeq,
      timestamp: message.timestamp,
      topic: message.topic,
      payload,
    };
    if (crypto) recv.msgKey = recvMsgKey(crypto, recv);
    return encodeRecv(recv, this.version);
  }

  /** Resend what is due; called by the node's sweep. */
  resendDue(now: number): void {
    if (this.state !== "open" || this.recvs.size === 0) return;
    const frames = this.recvs.due(now);
    if (frames.length === 0) return;
    this.ctx.metrics.recvResends.inc(frames.length);
    this.conn.writeMany(frames);
  }

  kick(reasonCode: number, reason: string): void {
    this.fail(reasonCode, reason);
  }

  /** CONNACK with a failure code, then close (the SDK stops reconnecting on a failed CONNACK). */
  private refuse(reasonCode: number, reason: string): void {
    if (this.state === "closed") return;
    this.ctx.logger.info({ uid: this.uid, connId: this.connId, reasonCode, reason }, "CONNECT refused");
    this.conn.write(
      encodeConnack(
        {
          type: PacketType.CONNACK,
          hasServerVersion: this.version > 3,
          serverVersion: this.version,
          timeDiff: 0,
          reasonCode,
          serverKey: "",
          salt: "",
          nodeId: this.ctx.nodeNumber,
        },
        this.version,
      ),
    );
    this.close(reason);
  }

  /** DISCONNECT with a reason, then close. */
  fail(reasonCode: number, reason: string): void {
    if (this.state === "closed") return;
    this.ctx.logger.info({ uid: this.uid || undefined, connId: this.connId, reasonCode, reason }, "disconnecting client");
    this.ctx.metrics.disconnects.inc({ reason: reasonName(reasonCode) });
    this.conn.write(encodeDisconnect({ type: PacketType.DISCONNECT, reasonCode, reason }, this.version));
    this.close(reason);
  }

  close(reason: string): void {
    if (this.state === "closed") return;
    const wasOpen = this.state === "open";
    this.state = "closed";
    this.conn.close(reason);
    if (wasOpen) this.ctx.onClosed(this);
  }

  /** The transport closed underneath us. */
  onTransportClosed(): void {
    if (this.state === "closed") return;
    const wasOpen = this.state === "open";
    this.state = "closed";
    if (wasOpen) this.ctx.onClosed(this);
  }
}
