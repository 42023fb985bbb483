/** First resend of an unacknowledged RECV after this long; each later one waits twice as long. */
export const RECV_RESEND_BASE_MS = 3_000;
/** Resends per message at most; after that the message waits in the store for the client's sync. */
export const RECV_MAX_RESENDS = 5;
/** Unacknowledged RECVs tracked per session at most; older ones are left to sync. */
export const RECV_MAX_PENDING = 2_048;
/** The DUP bit of a fixed header: set on resends. */
const DUP_FLAG = 0x08;

interface PendingRecv {
  frame: Uint8Array;
  resends: number;
  dueAt: number;
}

/**
 * The RECVs a session sent that are not acknowledged yet, resent with backoff until RECVACK
 * (WuKongIM's retry queue, per connection). Insertion order is send order, so the oldest is first.
 */
export class RecvTracker {
  private readonly pending = new Map<number, PendingRecv>();

  track(messageId: number, frame: Uint8Array, now: number): void {
    if (this.pending.size >= RECV_MAX_PENDING) {
      const oldest = this.pending.keys().next().value as number;
      this.pending.delete(oldest);
    }
    this.pending.set(messageId, { frame, resends: 0, dueAt: now + RECV_RESEND_BASE_MS });
  }

  ack(messageId: number): boolean {
    return this.pending.delete(messageId);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Frames due for a resend now, marked DUP; messages out of resends are dropped from tracking. */
  due(now: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const [id, p] of this.pending) {
      if (p.dueAt > now) continue;
      if (p.resends >= RECV_MAX_RESENDS) {
        this.pending.delete(id);
        continue;
      }
      p.resends++;
      p.dueAt = now + RECV_RESEND_BASE_MS * 2 ** p.resends;
      if ((p.frame[0] & DUP_FLAG) === 0) {
        const copy = Uint8Array.from(p.frame);
        copy[0] |= DUP_FLAG;
        p.frame = copy;
      }
      out.push(p.frame);
    }
    return out;
  }
}
