/**
 * WuKongIM-style webhooks: `POST {url}?event=<name>` with a JSON array, batched, retried on
 * failure with backoff, one request in flight per event so order holds. Events:
 *   user.onlinestatus  "uid-deviceFlag-online(0/1)-connId-deviceOnlineCount-totalOnlineCount"
 *   msg.notify         every stored message (MessageResp)
 *   msg.offline        a message some recipients were offline for: MessageResp + to_uids (vendor push)
 * Delivery never waits for the webhook; a queue that outgrows its cap drops its oldest entries
 * (logged and counted) rather than grow memory while the receiver is down.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { OnlineStatusObserver } from "../gateway/gateway-node.js";
import type { MessageObserver } from "../messaging/messenger.js";
import { messageResp } from "../router/message-json.js";
import type { StoredMessage } from "../store/message-store.js";
import type { Logger } from "../util/logger.js";

export interface WebhookOptions {
  url: string;
  logger: Logger;
  /** How often queued events are sent. */
  batchMs?: number;
  /** Most entries per request (WuKongIM: 100). */
  maxBatch?: number;
  /** Attempts after the first failure (WuKongIM: 5). */
  maxRetries?: number;
  /** Entries kept per event while the receiver is failing. */
  maxQueue?: number;
  requestTimeoutMs?: number;
}

export type WebhookEvent = "user.onlinestatus" | "msg.notify" | "msg.offline";

class EventQueue {
  items: unknown[] = [];
  sending = false;
  dropped = 0;
}

export class Webhook implements MessageObserver, OnlineStatusObserver {
  private readonly queues = new Map<WebhookEvent, EventQueue>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly o: Required<Omit<WebhookOptions, "logger">> & { logger: Logger };
  private readonly inFlight = new Set<Promise<void>>();

  constructor(options: WebhookOptions) {
    this.o = { batchMs: 500, maxBatch: 100, maxRetries: 5, maxQueue: 10_000, requestTimeoutMs: 5_000, ...options };
    new URL(this.o.url); // throws early on a bad URL
    this.timer = setInterval(() => this.flushAll(), this.o.batchMs);
    this.timer.unref();
  }

  userOnlineStatus(uid: string, deviceFlag: number, online: boolean, connId: string, deviceOnline: number, totalOnline: number): void {
    this.enqueue("user.onlinestatus", `${uid}-${deviceFlag}-${online ? 1 : 0}-${connId}-${deviceOnline}-${totalOnline}`);
  }

  messageStored(message: StoredMessage): void {
    this.enqueue("msg.notify", messageResp(message));
  }

  messageOffline(message: StoredMessage, toUids: string[]): void {
    if (toUids.length > 0) this.enqueue("msg.offline", { ...messageResp(message), to_uids: toUids });
  }

  private enqueue(event: WebhookEvent, item: unknown): void {
    if (this.closed) return;
    let q = this.queues.get(event);
    if (!q) {
      q = new EventQueue();
      this.queues.set(event, q);
    }
    q.items.push(item);
    if (q.items.length > this.o.maxQueue) {
      const over = q.items.length - this.o.maxQueue;
      q.items.splice(0, over);
      q.dropped += over;
      this.o.logger.warn({ event, dropped: q.dropped }, "webhook queue full: dropping the oldest events");
    }
  }

  private flushAll(): void {
    for (const [event, q] of this.queues) {
      if (q.sending || q.items.length === 0) continue;
      const p = this.drain(event, q).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  /** Send everything queued for one event, batch by batch, each retried with backoff. */
  private async drain(event: WebhookEvent, q: EventQueue): Promise<void> {
    q.sending = true;
    try {
      while (q.items.length > 0) {
        const batch = q.items.slice(0, this.o.maxBatch);
        const ok = await this.post(event, batch);
        // Sent or given up on: either way these leave the queue (entries dropped meanwhile shift it).
        q.items.splice(0, Math.min(batch.length, q.items.length));
        if (!ok) this.o.logger.error({ event, entries: batch.length }, "webhook gave up after retries; events dropped");
      }
    } finally {
      q.sending = false;
    }
  }

  private async post(event: WebhookEvent, batch: unknown[]): Promise<boolean> {
    const url = new URL(this.o.url);
    url.searchParams.set("event", event);
    for (let attempt = 0; attempt <= this.o.maxRetries; attempt++) {
      if (attempt > 0) await sleep(Math.min(250 * 2 ** attempt, 10_000));
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(batch),
          signal: AbortSignal.timeout(this.o.requestTimeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return true;
        this.o.logger.warn({ event, status: res.status, attempt }, "webhook answered with an error status");
      } catch (err) {
        this.o.logger.warn({ event, err: (err as Error).message, attempt }, "webhook request failed");
      }
      if (this.closed) return false;
    }
    return false;
  }

  /** Send what is queued (one try per batch chain) and stop. */
  async close(): Promise<void> {
    this.flushAll();
    this.closed = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.inFlight]);
  }
}
