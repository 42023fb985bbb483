/**
 * MessageBus on Redis sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis >= 7), one code path for a plain
 * Redis and a Redis Cluster: a channel per node (`<prefix>:node:{<id>}`, hash-tagged so a node's
 * channel has one slot) and one for all (`<prefix>:all`). Classic PUBLISH on a cluster is copied to
 * every cluster node (~4x the Redis CPU per message); a sharded one only goes to the shard owning
 * the channel's slot, which is where its subscribers are. Frames are Buffers end to end. What is
 * published in one tick leaves batched per target (frame-batch.ts): one pipeline on a plain Redis,
 * one pipeline per target (= per slot) on a cluster, which refuses pipelines spanning slots. A
 * separate connection subscribes; ioredis re-subscribes it after a reconnect or a failover, but
 * pub/sub is at-most-once: frames sent while it is down are lost, and the store plus client sync
 * close that gap. On a cluster, ioredis sometimes leaves a channel unsubscribed after a failover
 * (its sharded subscriber group keeps the old assignment): a check every few seconds asks the
 * shard owning each node channel whether anyone listens, and subscribes again where nobody does.
 */
import calculateSlot from "cluster-key-slot";
import type { Cluster } from "ioredis";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import { LocalSubscribers, busClosed, checkFrame, checkNodeId } from "./bus-common.js";
import { FrameBatcher, type OutgoingMessage } from "./frame-batch.js";
import type { BusHandler, MessageBus } from "./message-bus.js";
import {
  REDIS_CLOSE_TIMEOUT_MS,
  type RedisClient,
  type RedisConnectionOptions,
  checkPrefix,
  explainShardedPubSubError,
  logErrors,
  openRedis,
  openShardedSubscriber,
  quitQuietly,
  settleWithin,
} from "./redis-common.js";

/** How often a cluster bus checks that its node channels still have a listener. */
const SUBSCRIPTION_CHECK_MS = 3_000;

export interface RedisMessageBusOptions extends RedisConnectionOptions {
  /** Prefix of every channel, e.g. "switchboard". */
  prefix: string;
  /** Largest PUBLISH payload; more frames go in several, a larger frame is fragmented. */
  maxMessageBytes?: number;
  logger?: Logger;
}

export class RedisMessageBus implements MessageBus {
  private readonly pub: RedisClient;
  private readonly owned: boolean;
  private sub: RedisClient | undefined;
  /** The broadcast channel's subscription, made once however many nodes this bus hosts. */
  private allSubscribed: Promise<unknown> | undefined;
  private readonly logger: Logger;
  private readonly prefix: string;
  private readonly allChannel: string;
  private readonly batcher: FrameBatcher;
  private readonly subscribers: LocalSubscribers;
  /** channel -> node id, for the node channels this instance listens on. */
  private readonly nodeChannels = new Map<string, string>();
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;
  private repairTimer: NodeJS.Timeout | undefined;

  constructor(options: RedisMessageBusOptions) {
    this.prefix = checkPrefix(options.prefix);
    this.allChannel = `${this.prefix}:all`;
    this.logger = options.logger ?? silentLogger;
    ({ client: this.pub, owned: this.owned } = openRedis(options, this.logger, "bus-publisher"));
    this.subscribers = new LocalSubscribers(this.logger);
    this.batcher = new FrameBatcher({ send: (messages) => this.send(messages), maxMessageBytes: options.maxMessageBytes });
  }

  /** Name of the subscriber connection (CLIENT LIST), e.g. to find it in an operator's view. */
  get subscriberName(): string {
    return `${this.prefix.replace(/[^A-Za-z0-9_.:-]/g, "_")}:bus-sub`;
  }

  async subscribe(nodeId: string, handler: BusHandler): Promise<void> {
    if (this.closed) throw busClosed();
    const channel = this.nodeChannel(checkNodeId(nodeId));
    this.subscribers.add(nodeId, handler);
    this.nodeChannels.set(channel, nodeId);
    try {
      const sub = this.subscriber();
      // Separate calls: on a cluster one SSUBSCRIBE may only name channels of one slot.
      this.allSubscribed ??= sub.ssubscribe(this.allChannel).catch((err) => {
        this.allSubscribed = undefined;
        throw err;
      });
      await Promise.all([sub.ssubscribe(channel), this.allSubscribed]);
    } catch (err) {
      this.subscribers.remove(nodeId);
      this.nodeChannels.delete(channel);
      if (this.closed) throw busClosed();
      throw explainShardedPubSubError(err);
    }
  }

  publish(nodeId: string, frame: Uint8Array): void {
    if (this.closed) throw busClosed();
    this.batcher.add(this.nodeChannel(checkNodeId(nodeId)), checkFrame(frame));
  }

  broadcast(frame: Uint8Array): void {
    if (this.closed) throw busClosed();
    this.batcher.add(this.allChannel, checkFrame(frame));
  }

  async flush(): Promise<void> {
    this.batcher.flush();
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.repairTimer);
    this.subscribers.stop();
    // What was published before close still goes out, unless Redis is unreachable.
    await settleWithin(this.flush(), REDIS_CLOSE_TIMEOUT_MS);
    if (this.sub) await quitQuietly(this.sub);
    if (this.owned) await quitQuietly(this.pub);
  }

  private subscriber(): RedisClient {
    if (!this.sub) {
      const sub = openShardedSubscriber(this.pub, this.subscriberName);
      logErrors(sub, this.logger, "bus-subscriber");
      sub.on("smessageBuffer", (channel: Buffer, message: Buffer) => this.receive(channel.toString(), message));
      this.sub = sub;
      if (this.pub.isCluster) {
        this.repairTimer = setInterval(() => void this.repairSubscriptions(), SUBSCRIPTION_CHECK_MS);
        this.repairTimer.unref();
      }
    }
    return this.sub;
  }

  /** Subscribes again to node channels whose shard says nobody listens (see the file's header). */
  private async repairSubscriptions(): Promise<void> {
    const cluster = this.pub as Cluster;
    const sub = this.sub;
    if (!sub || this.closed || cluster.status !== "ready") return;
    let repaired = 0;
    for (const channel of this.nodeChannels.keys()) {
      try {
        const owner = cluster.slots[calculateSlot(channel)]?.[0];
        const node = cluster.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === owner);
        if (!node) continue;
        const [, listeners] = (await node.call("PUBSUB", "SHARDNUMSUB", channel)) as [string, number];
        if (Number(listeners) > 0 || this.closed) continue;
        await sub.ssubscribe(channel);
        repaired++;
      } catch (err) {
        this.logger.debug({ err, channel }, "checking a bus subscription failed; next check retries");
      }
    }
    if (repaired === 0) return;
    // The same failover may have cost the broadcast channel (which every node shares, so its count says little).
    await sub.ssubscribe(this.allChannel).catch(() => {});
    this.logger.warn({ channels: repaired }, "bus subscriptions lost in a cluster failover were made again");
  }

  private receive(channel: string, message: Buffer): void {
    if (channel === this.allChannel) this.subscribers.receive(channel, undefined, message);
    else {
      const nodeId = this.nodeChannels.get(channel);
      if (nodeId !== undefined) this.subscribers.receive(channel, nodeId, message);
    }
  }

  /**
   * Plain Redis: one pipeline per tick, every target's batch in one round trip. Cluster: one
   * pipeline per target, since a cluster pipeline must stay within one slot's node and targets
   * hash to different slots. Either way a target's messages keep their order: one pipeline, on the
   * one connection to the node owning that slot.
   */
  private send(messages: OutgoingMessage[]): void {
    if (!this.pub.isCluster) {
      this.exec(messages, 0, messages.length);
      return;
    }
    // The batcher emits each target's messages as one contiguous run.
    let start = 0;
    for (let i = 1; i <= messages.length; i++) {
      if (i === messages.length || messages[i].target !== messages[start].target) {
        this.exec(messages, start, i);
        start = i;
      }
    }
  }

  private exec(messages: OutgoingMessage[], from: number, to: number): void {
    const pipeline = this.pub.pipeline();
    for (let i = from; i < to; i++) pipeline.spublish(messages[i].target, messages[i].message);
    const done = pipeline
      .exec()
      .then((results) => {
        const failed = results?.find(([err]) => err);
        if (failed) throw failed[0];
      })
      .catch((err) => this.logger.warn({ err, messages: to - from }, "redis publish failed; those frames are lost"))
      .finally(() => this.inflight.delete(done));
    this.inflight.add(done);
  }

  /** Hash-tagged by node id, so whatever else is kept per node lands in the same slot and shard. */
  private nodeChannel(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}`;
  }
}
