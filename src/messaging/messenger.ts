import { type ClusterMessage, deliverMessage, encodeClusterMessage } from "../cluster/cluster-protocol.js";
import type { MessageBus } from "../cluster/message-bus.js";
import type { Presence } from "../cluster/presence.js";
import { SwitchboardMetrics } from "../metrics/metrics.js";
import { ReasonCode } from "../protocol/constants.js";
import { ChannelType, storeChannelId } from "../store/channel-id.js";
import type { AppendInput, AppendResult, ChannelStore, MessageLog, StoredMessage } from "../store/message-store.js";
import { SendRejectedError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import { SYSTEM_UID, uidProblem } from "../util/validate.js";
import { SendPipeline } from "./send-pipeline.js";
import { SubscriberCache } from "./subscriber-cache.js";

const DEFAULT_BROADCAST_ABOVE = 256;

export { SendRejectedError };

/**
 * A send as a client or the API makes it: what the store appends, less the timestamp (set at
 * commit), with `channelId` as the sender addresses it (the peer's uid for person channels; the
 * store keeps the canonical id).
 */
export type SendRequest = Omit<AppendInput, "timestamp"> & {
  /** The connection that sent it: it gets a SENDACK, not a RECV. */
  originConnId?: string;
};

export interface SendOutcome {
  result: AppendResult;
  message: StoredMessage;
}

/** A gateway node in this process that can take deliveries directly (no bus hop). */
export interface LocalNode {
  readonly id: string;
  deliverLocal(uids: readonly string[], message: StoredMessage, excludeConnId?: string): void;
  /** Close this node's sessions of (uid, deviceFlag) older than exceptEpoch. */
  kickLocal(target: KickTarget, reasonCode: number, reason: string): void;
}

/** Sessions to kick: those of (uid, deviceFlag) on nodeId with an epoch below exceptEpoch. */
export interface KickTarget {
  nodeId: string;
  uid: string;
  deviceFlag: number;
  exceptEpoch: number;
}

/** Told about each stored message and about its recipients with no live session (webhooks implement it). */
export interface MessageObserver {
  messageStored(message: StoredMessage): void;
  messageOffline(message: StoredMessage, toUids: string[]): void;
}

export interface MessengerOptions {
  /** Where sends are committed, and the groups whose members may send and receive. */
  store: MessageLog & ChannelStore;
  presence: Presence;
  bus: MessageBus;
  mode: "targeted" | "broadcast";
  /**
   * Targeted mode broadcasts a message with more recipients than this (default 256): one bus frame
   * to every node beats a presence lookup of every member of a large group (10,000 keys per message).
   */
  broadcastAbove?: number;
  logger?: Logger;
  metrics?: SwitchboardMetrics;
  /** Told about stored messages and offline recipients (webhooks). */
  observer?: MessageObserver;
  /** Longest a send waits to be stored before it fails with store_unavailable. Default 2000. */
  storeTimeoutMs?: number;
}

/**
 * Store-and-forward for one process: checks a send is allowed, stores it (group commit), then
 * fans it out — to local nodes directly and to remote nodes over the bus, one frame per node.
 */
export class Messenger {
  private readonly pipeline: SendPipeline;
  private readonly subscribers: SubscriberCache;
  private readonly localNodes = new Map<string, LocalNode>();
  private readonly logger: Logger;
  private readonly metrics: SwitchboardMetrics;
  private readonly observer: MessageObserver | undefined;

  constructor(private readonly options: MessengerOptions) {
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics ?? new SwitchboardMetrics();
    this.observer = options.observer;
    this.pipeline = new SendPipeline({
      store: options.store,
      logger: this.logger,
      metrics: this.metrics,
      timeoutMs: options.storeTimeoutMs,
    });
    this.subscribers = new SubscriberCache({ store: options.store });
  }

  /** A group's members or settings changed: forget what the send checks cached about it. */
  channelChanged(channelId: string, channelType: number): void {
    this.subscribers.invalidate(channelId, channelType);
  }

  addLocalNode(node: LocalNode): void {
    this.localNodes.set(node.id, node);
  }

  removeLocalNode(nodeId: string): void {
    this.localNodes.delete(nodeId);
  }

  /** Check, store, then fan out. Resolves after the commit; fan-out continues in the background. */
  async send(req: SendRequest): Promise<SendOutcome> {
    return this.commit(req, await this.authorize(req));
  }

  /**
   * Store an authorized send (its canonical channel id from authorize()). The append is queued
   * synchronously, so sends committed in order are stored in order.
   */
  async commit(req: SendRequest, channelId: string): Promise<SendOutcome> {
    const timestamp = Math.floor(Date.now() / 1000);
    const input = {
      fromUid: req.fromUid,
      channelId,
      channelType: req.channelType,
      clientMsgNo: req.clientMsgNo,
      header: req.header,
      setting: req.setting,
      expire: req.expire,
      topic: req.topic,
      payload: req.payload,
      timestamp,
    };
    const result = req.header.noPersist
      ? { messageId: await this.options.store.allocateMessageId(), messageSeq: 0, timestamp, duplicate: false }
      : await this.pipeline.append(input);
    const message: StoredMessage = { ...input, messageId: result.messageId, messageSeq: result.messageSeq, timestamp: result.timestamp };
    this.metrics.messagesIn.inc({ source: req.originConnId ? "gateway" : "http", result: result.duplicate ? "duplicate" : "stored" });
    // A retried send was fanned out the first time; receivers sync what they missed.
    if (!result.duplicate) {
      this.observer?.messageStored(message);
      this.dispatch(message, req.originConnId).catch((err) =>
        this.logger.error({ err, messageId: message.messageId }, "fan-out failed after store; receivers will sync it"),
      );
    }
    return { result, message };
  }

  /** Whether the sender may send here (reason code if not); resolves to the canonical channel id. */
  async authorize(req: SendRequest): Promise<string> {
    try {
      return await this.check(req);
    } catch (err) {
      if (err instanceof SendRejectedError)
        this.metrics.messagesIn.inc({ source: req.originConnId ? "gateway" : "http", result: "refused" });
      throw err;
    }
  }

  private async check(req: SendRequest): Promise<string> {
    if (req.channelType === ChannelType.Person) {
      const problem = uidProblem(req.channelId);
      if (problem) throw new SendRejectedError(ReasonCode.ChannelIDError, `channel_id ${problem}`);
      return storeChannelId(req.fromUid, req.channelId, req.channelType);
    }
    if (req.channelType !== ChannelType.Group) {
      throw new SendRejectedError(ReasonCode.NotSupportChannelType, `channel_type ${req.channelType} is not supported (1 person, 2 group)`);
    }
    const channel = await this.subscribers.channel(req.channelId, req.channelType);
    if (!channel) throw new SendRejectedError(ReasonCode.ChannelNotExist, `group ${req.channelId} does not exist`);
    if (channel.disband) throw new SendRejectedError(ReasonCode.Disband, `group ${req.channelId} is disbanded`);
    if (channel.ban) throw new SendRejectedError(ReasonCode.Ban, `group ${req.channelId} is banned`);
    if (req.fromUid !== SYSTEM_UID) {
      if (channel.sendBan) throw new SendRejectedError(ReasonCode.SendBan, `sending to group ${req.channelId} is not allowed`);
      if (!(await this.subscribers.isSubscriber(req.channelId, req.channelType, req.fromUid))) {
        throw new SendRejectedError(ReasonCode.SubscriberNotExist, `${req.fromUid} is not a member of group ${req.channelId}`);
      }
    }
    return req.channelId;
  }

  /** Who receives a stored message: both users of a person channel, or every group member. */
  async recipients(message: StoredMessage): Promise<string[]> {
    if (message.channelType === ChannelType.Person) {
      const at = message.channelId.indexOf("@");
      const a = message.channelId.slice(0, at);
      const b = message.channelId.slice(at + 1);
      return a === b ? [a] : [a, b];
    }
    return this.subscribers.list(message.channelId, message.channelType);
  }

  async dispatch(message: StoredMessage, originConnId?: string): Promise<void> {
    const uids = await this.recipients(message);
    this.metrics.fanOut.observe(uids.length);
    if (uids.length === 0) return;
    if (this.options.mode === "broadcast" || uids.length > (this.options.broadcastAbove ?? DEFAULT_BROADCAST_ABOVE)) {
      // Broadcast delivery: every node gets every message and delivers what it holds.
      for (const node of this.localNodes.values()) node.deliverLocal(uids, message, originConnId);
      this.options.bus.broadcast(
        encodeClusterMessage(deliverMessage(message, uids, { all: true, skipNodes: [...this.localNodes.keys()] })),
      );
      this.metrics.busFrames.inc({ direction: "out", kind: "deliver" });
      // Broadcast needs no presence; look it up only when someone wants to hear who was offline.
      if (this.observer) this.reportOffline(message, uids, await this.options.presence.lookup(uids));
      return;
    }
    const bindings = await this.options.presence.lookup(uids);
    if (this.observer) this.reportOffline(message, uids, bindings);
    const byNode = new Map<string, string[]>();
    for (const [uid, list] of bindings) {
      for (const b of list) {
        const target = byNode.get(b.nodeId);
        if (!target) byNode.set(b.nodeId, [uid]);
        else if (target[target.length - 1] !== uid) target.push(uid);
      }
    }
    for (const [nodeId, nodeUids] of byNode) {
      const local = this.localNodes.get(nodeId);
      if (local) local.deliverLocal(nodeUids, message, originConnId);
      else {
        this.options.bus.publish(nodeId, encodeClusterMessage(deliverMessage(message, nodeUids)));
        this.metrics.busFrames.inc({ direction: "out", kind: "deliver" });
      }
    }
  }

  /** msg.offline for the recipients (except the sender) with no live session: vendor push. */
  private reportOffline(message: StoredMessage, uids: string[], bindings: Map<string, unknown[]>): void {
    const offline = uids.filter((uid) => uid !== message.fromUid && !bindings.has(uid));
    this.observer?.messageOffline(message, offline);
  }

  /** Kick sessions wherever they are: directly when the node is in this process, else over the bus. */
  kick(target: KickTarget, reasonCode: number, reason: string): void {
    const local = this.localNodes.get(target.nodeId);
    if (local) {
      local.kickLocal(target, reasonCode, reason);
      return;
    }
    const { uid, deviceFlag, exceptEpoch } = target;
    this.options.bus.publish(target.nodeId, encodeClusterMessage({ type: "kick", uid, deviceFlag, exceptEpoch, reason }));
    this.metrics.busFrames.inc({ direction: "out", kind: "kick" });
  }
}
