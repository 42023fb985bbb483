/**
 * MessageBus on Redis pub/sub: a channel per node (`<prefix>:node:<id>`) and one for all
 * (`<prefix>:all`). Frames are Buffers end to end. What is published in one tick leaves as one
 * pipeline, one PUBLISH per target (frame-batch.ts). A separate connection subscribes; ioredis
 * resubscribes it after a reconnect (autoResubscribe), but pub/sub is at-most-once: frames sent
 * while it is down are lost, and the store plus client sync close that gap.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import { LocalSubscribers, busClosed, checkFrame, checkNodeId } from "./bus-common.js";
import { FrameBatcher, type OutgoingMessage } from "./frame-batch.js";
import type { BusHandler, MessageBus } from "./message-bus.js";
import {
  REDIS_CLOSE_TIMEOUT_MS,
  type RedisConnectionOptions,
  checkPrefix,
  logErrors,
  openRedis,
  quitQuietly,
  settleWithin,
} from "./redis-common.js";

export interface RedisMessageBusOptions extends RedisConnectionOptions {
  /** Prefix of every channel, e.g. "switchboard". */
  prefix: string;
  /** Largest PUBLISH payload; more frames go in several, a larger frame is fragmented. */
  maxMessageBytes?: number;
  logger?: Logger;
}

export class RedisMessageBus implements MessageBus {
  private readonly pub: Redis;
  private readonly owned: boolean;
  private sub: Redis | undefined;
  private readonly logger: Logger;
  private readonly prefix: string;
  private readonly allChannel: string;
  private readonly batcher: FrameBatcher;
  private readonly subscribers: LocalSubscribers;
  /** channel -> node id, for the node channels this instance listens on. */
  private readonly nodeChannels = new Map<string, string>();
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;

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
      await this.subscriber().subscribe(channel, this.allChannel);
    } catch (err) {
      this.subscribers.remove(nodeId);
      this.nodeChannels.delete(channel);
      if (this.closed) throw busClosed();
      throw err;
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
    this.subscribers.stop();
    // What was published before close still goes out, unless Redis is unreachable.
    await settleWithin(this.flush(), REDIS_CLOSE_TIMEOUT_MS);
    if (this.sub) await quitQuietly(this.sub);
    if (this.owned) await quitQuietly(this.pub);
  }

  private subscriber(): Redis {
    if (!this.sub) {
      const sub = this.pub.duplicate({ connectionName: this.subscriberName });
      logErrors(sub, this.logger, "bus-subscriber");
      sub.on("messageBuffer", (channel: Buffer, message: Buffer) => this.receive(channel.toString(), message));
      this.sub = sub;
    }
    return this.sub;
  }

  private receive(channel: string, message: Buffer): void {
    if (channel === this.allChannel) this.subscribers.receive(channel, undefined, message);
    else {
      const nodeId = this.nodeChannels.get(channel);
      if (nodeId !== undefined) this.subscribers.receive(channel, nodeId, message);
    }
  }

  /** One pipeline per tick: every target's batch in one round trip, in publish order. */
  private send(messages: OutgoingMessage[]): void {
    const pipeline = this.pub.pipeline();
    for (const { target, message } of messages) pipeline.publish(target, message);
    const done = pipeline
      .exec()
      .then((results) => {
        const failed = results?.find(([err]) => err);
        if (failed) throw failed[0];
      })
      .catch((err) => this.logger.warn({ err, messages: messages.length }, "redis publish failed; those frames are lost"))
      .finally(() => this.inflight.delete(done));
    this.inflight.add(done);
  }

  private nodeChannel(nodeId: string): string {
    return `${this.prefix}:node:${nodeId}`;
  }
}
