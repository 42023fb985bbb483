/**
 * MessageBus on core NATS: subject `<prefix>.node.<id>` per node and `<prefix>.all`. Batching and
 * framing are frame-batch.ts (a frame over the server's max_payload is fragmented). Core NATS is
 * at-most-once, like Redis pub/sub.
 *
 * The URL may list several servers of one NATS cluster (comma-separated): the client connects to
 * one, and when it is lost reconnects — forever — to another of the list (or one the cluster
 * advertised), resubscribing by itself. What is published while not connected (before the first
 * connection or during a reconnect) is queued, bounded, and sent once connected.
 */
import { type ConnectionOptions, Events, type NatsConnection, type Subscription, connect } from "nats";
import { InvalidArgumentError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import { LocalSubscribers, busClosed, checkFrame, checkNodeId } from "./bus-common.js";
import { DEFAULT_MAX_MESSAGE_BYTES, FrameBatcher, type OutgoingMessage } from "./frame-batch.js";
import type { BusHandler, MessageBus } from "./message-bus.js";

/** Wait between attempts while the first connection cannot be made. */
export const NATS_CONNECT_RETRY_MS = 2_000;
/** Bytes published while not connected that are kept for the (re)connection; beyond this they are dropped. */
export const NATS_MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/**
 * Wait before dialing the same server again after it was lost or refused; another server of the
 * list is tried at once.
 */
export const NATS_RECONNECT_WAIT_MS = 500;

/** The servers of a `--nats` value: one URL, or several comma-separated (a NATS cluster). */
export function natsServers(url: string | string[]): string[] {
  return (Array.isArray(url) ? url : [url])
    .flatMap((u) => u.split(","))
    .map((u) => u.trim())
    .filter(Boolean);
}

export interface NatsMessageBusOptions {
  /**
   * Server URL(s), e.g. "nats://127.0.0.1:4222", or several servers of one NATS cluster (an array
   * or a comma-separated string); ignored when `connection` is given.
   */
  url?: string | string[];
  /** An existing connection to use (and not close). */
  connection?: NatsConnection;
  /** First token(s) of every subject, e.g. "switchboard". */
  prefix: string;
  /** Largest message; the server's max_payload lowers it once known. */
  maxMessageBytes?: number;
  /** Extra nats options for connections made from `url`. */
  connectionOptions?: ConnectionOptions;
  logger?: Logger;
}

/** Subject tokens may not be empty or hold wildcards or white space. */
function checkSubject(subject: string, what: string): string {
  if (/[\s*>]/.test(subject) || subject.split(".").some((t) => t.length === 0)) {
    throw new InvalidArgumentError(`${what} cannot be used in a NATS subject: ${JSON.stringify(subject)}`);
  }
  return subject;
}

export class NatsMessageBus implements MessageBus {
  private readonly logger: Logger;
  private readonly prefix: string;
  private readonly allSubject: string;
  private readonly owned: boolean;
  private readonly maxMessageBytes: number;
  private readonly batcher: FrameBatcher;
  private readonly subscribers: LocalSubscribers;
  private readonly ready: Promise<NatsConnection>;
  private readonly subs: Subscription[] = [];
  private nc: NatsConnection | undefined;
  /** Whether `nc` is connected now (it is not between a Disconnect and the Reconnect). */
  private connected = false;
  /** Messages dropped because the queue was full, since the last (re)connection. */
  private dropped = 0;
  private allSub: Subscription | undefined;
  private queue: OutgoingMessage[] = [];
  private queuedBytes = 0;
  private retry: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  private closed = false;

  constructor(private readonly options: NatsMessageBusOptions) {
    if (typeof options.prefix !== "string" || options.prefix.length === 0)
      throw new InvalidArgumentError("prefix must be a non-empty string");
    this.prefix = checkSubject(options.prefix, "prefix");
    this.allSubject = `${this.prefix}.all`;
    this.logger = options.logger ?? silentLogger;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.subscribers = new LocalSubscribers(this.logger);
    this.batcher = new FrameBatcher({ send: (messages) => this.send(messages), maxMessageBytes: this.maxMessageBytes });
    this.owned = !options.connection;
    if (!options.connection && (!options.url || natsServers(options.url).length === 0))
      throw new InvalidArgumentError("NatsMessageBus: a url or connection is required");
    this.ready = options.connection ? Promise.resolve(options.connection) : this.connectLoop();
    this.ready.then(
      (nc) => this.onConnected(nc),
      () => {},
    );
  }

  async subscribe(nodeId: string, handler: BusHandler): Promise<void> {
    if (this.closed) throw busClosed();
    const subject = checkSubject(`${this.prefix}.node.${checkNodeId(nodeId)}`, "node id");
    this.subscribers.add(nodeId, handler);
    try {
      const nc = await this.ready;
      if (this.closed) throw busClosed();
      this.subs.push(nc.subscribe(subject, { callback: (err, msg) => this.receive(err, subject, nodeId, msg?.data) }));
      if (!this.allSub) {
        this.allSub = nc.subscribe(this.allSubject, { callback: (err, msg) => this.receive(err, this.allSubject, undefined, msg?.data) });
        this.subs.push(this.allSub);
      }
      // The server knows the subscription once this returns: frames sent after it arrive.
      await nc.flush();
    } catch (err) {
      this.subscribers.remove(nodeId);
      throw err;
    }
  }

  publish(nodeId: string, frame: Uint8Array): void {
    if (this.closed) throw busClosed();
    this.batcher.add(checkSubject(`${this.prefix}.node.${checkNodeId(nodeId)}`, "node id"), checkFrame(frame));
  }

  broadcast(frame: Uint8Array): void {
    if (this.closed) throw busClosed();
    this.batcher.add(this.allSubject, checkFrame(frame));
  }

  /** The server the connection is on now ("host:port"), or undefined while not connected. */
  get server(): string | undefined {
    return this.nc && this.connected && !this.nc.isClosed() ? this.nc.getServer() : undefined;
  }

  async flush(): Promise<void> {
    this.batcher.flush();
    const nc = await this.ready;
    if (!nc.isClosed()) await nc.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.subscribers.stop();
    this.batcher.flush();
    this.closed = true;
    if (this.retry) {
      clearTimeout(this.retry.timer);
      this.retry.wake();
    }
    const nc = await this.ready.catch(() => undefined);
    if (!nc) {
      if (this.queue.length > 0)
        this.logger.warn({ frames: this.queue.length }, "nats bus closed before it connected; queued messages dropped");
      return;
    }
    if (this.queue.length > 0)
      this.logger.warn({ frames: this.queue.length }, "nats bus closed while reconnecting; queued messages dropped");
    try {
      // While reconnecting a flush would wait for the next dial: nothing to wait for then.
      if (!nc.isClosed() && (this.connected || !this.owned)) await nc.flush();
    } catch (err) {
      this.logger.warn({ err }, "nats flush on close failed");
    }
    if (this.owned) await nc.close();
    else for (const sub of this.subs) sub.unsubscribe();
  }

  private async connectLoop(): Promise<NatsConnection> {
    const servers = natsServers(this.options.url ?? []);
    while (!this.closed) {
      try {
        // Servers refused on this first attempt leave the client's list (nats.js does so) until
        // the cluster advertises them again; when all are refused, the loop here starts over.
        const nc = await connect({
          maxReconnectAttempts: -1,
          reconnectTimeWait: NATS_RECONNECT_WAIT_MS,
          name: `${this.prefix}-bus`,
          ...this.options.connectionOptions,
          servers,
        });
        if (this.closed) {
          await nc.close();
          break;
        }
        return nc;
      } catch (err) {
        this.logger.warn({ err }, "nats connect failed; retrying");
        await new Promise<void>((wake) => {
          const timer = setTimeout(wake, NATS_CONNECT_RETRY_MS);
          timer.unref();
          this.retry = { timer, wake };
        });
        this.retry = undefined;
      }
    }
    throw busClosed();
  }

  private onConnected(nc: NatsConnection): void {
    this.nc = nc;
    const serverMax = nc.info?.max_payload;
    if (serverMax && serverMax < this.maxMessageBytes) this.batcher.setMaxMessageBytes(serverMax);
    this.watchStatus(nc);
    this.onUp();
  }

  /** Connected (again): send what was queued meanwhile, in order. */
  private onUp(): void {
    this.connected = true;
    if (this.dropped > 0) {
      this.logger.warn({ dropped: this.dropped }, "nats connected; messages were dropped meanwhile, the queue being full");
      this.dropped = 0;
    }
    const queued = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    if (queued.length > 0) this.send(queued);
  }

  private watchStatus(nc: NatsConnection): void {
    void (async () => {
      for await (const s of nc.status()) {
        // nats.js discards what it buffered when it dials again: queue here until reconnected.
        if (s.type === Events.Disconnect) this.connected = false;
        const level = s.type === Events.Disconnect || s.type === Events.Error ? "warn" : s.type === Events.Reconnect ? "info" : "debug";
        this.logger[level]({ type: s.type, data: s.data }, "nats connection status");
        if (s.type === Events.Reconnect && !this.closed) this.onUp();
      }
    })().catch((err) => this.logger.warn({ err }, "nats status watch ended"));
    nc.closed().then(
      (err) => {
        if (err) this.logger.error({ err }, "nats connection closed with an error");
      },
      () => {},
    );
  }

  private send(messages: OutgoingMessage[]): void {
    const nc = this.nc;
    if (!nc || !this.connected) {
      for (const m of messages) {
        if (this.queuedBytes + m.message.byteLength > NATS_MAX_QUEUED_BYTES) {
          // Once per outage: the count is logged on reconnection.
          if (this.dropped++ === 0) this.logger.warn({ subject: m.target }, "nats not connected and the queue is full; messages dropped");
          continue;
        }
        this.queue.push(m);
        this.queuedBytes += m.message.byteLength;
      }
      return;
    }
    for (const { target, message } of messages) {
      try {
        nc.publish(target, message);
      } catch (err) {
        this.logger.warn({ err, subject: target, bytes: message.byteLength }, "nats publish failed; message lost");
      }
    }
  }

  private receive(err: Error | null, subject: string, nodeId: string | undefined, data: Uint8Array | undefined): void {
    if (err) {
      this.logger.warn({ err, subject }, "nats subscription error");
      return;
    }
    if (data) this.subscribers.receive(subject, nodeId, data);
  }
}
