/**
 * SENDs waiting for their SENDACK. Each keeps its client_msg_no and client_seq for life, so a
 * resend (on a timer, or on the next connection) is the same message to the server, which stores
 * it once and answers every copy with the same message id and seq.
 */
import { ReasonCode } from "../protocol/constants.js";
import type { SendackPacket } from "../protocol/sendack.js";
import type { OutgoingSend } from "./connection.js";
import { SendError } from "./errors.js";
import type { SendResult } from "./types.js";

export interface PendingSend extends OutgoingSend {
  /** When it was last written (0 = not yet). */
  sentAt: number;
  writes: number;
  waiters: { resolve(r: SendResult): void; reject(e: Error): void }[];
}

export type Settled = { send: PendingSend; result: SendResult } | { send: PendingSend; error: SendError };

export class Outbox {
  private nextClientSeq = 0;
  private readonly byMsgNo = new Map<string, PendingSend>();
  private readonly bySeq = new Map<number, PendingSend>();

  get size(): number {
    return this.byMsgNo.size;
  }

  /** Queues a message (or joins the one already queued under the same client_msg_no). */
  add(fields: Omit<OutgoingSend, "clientSeq">): { send: PendingSend; fresh: boolean; promise: Promise<SendResult> } {
    const existing = this.byMsgNo.get(fields.clientMsgNo);
    const send = existing ?? { ...fields, clientSeq: this.allocateSeq(), sentAt: 0, writes: 0, waiters: [] };
    const promise = new Promise<SendResult>((resolve, reject) => send.waiters.push({ resolve, reject }));
    if (!existing) {
      this.byMsgNo.set(send.clientMsgNo, send);
      this.bySeq.set(send.clientSeq, send);
    }
    return { send, fresh: !existing, promise };
  }

  /** Matches a SENDACK (by client_seq, or client_msg_no when the server echoes it) and settles its waiters. */
  ack(p: SendackPacket): Settled | undefined {
    const send = this.bySeq.get(p.clientSeq) ?? (p.clientMsgNo ? this.byMsgNo.get(p.clientMsgNo) : undefined);
    if (!send) return undefined;
    this.remove(send);
    if (p.reasonCode !== ReasonCode.Success) {
      const error = new SendError(p.reasonCode, `send refused (reason ${p.reasonCode}${reasonLabel(p.reasonCode)})`);
      for (const w of send.waiters) w.reject(error);
      return { send, error };
    }
    const result: SendResult = {
      clientMsgNo: send.clientMsgNo,
      messageId: p.messageId,
      messageSeq: p.messageSeq,
      reasonCode: p.reasonCode,
    };
    for (const w of send.waiters) w.resolve(result);
    return { send, result };
  }

  /** Everything queued, oldest first (the order they are written in after a reconnect). */
  all(): PendingSend[] {
    return [...this.byMsgNo.values()];
  }

  /** Written before and not acknowledged within resendMs. */
  due(now: number, resendMs: number): PendingSend[] {
    return this.all().filter((s) => s.sentAt > 0 && now - s.sentAt >= resendMs);
  }

  /** When the next one falls due, or undefined when nothing written is waiting. */
  nextDueAt(resendMs: number): number | undefined {
    let next: number | undefined;
    for (const s of this.byMsgNo.values())
      if (s.sentAt > 0 && (next === undefined || s.sentAt + resendMs < next)) next = s.sentAt + resendMs;
    return next;
  }

  rejectAll(error: Error): void {
    const all = this.all();
    this.byMsgNo.clear();
    this.bySeq.clear();
    for (const s of all) for (const w of s.waiters) w.reject(error);
  }

  private remove(send: PendingSend): void {
    this.byMsgNo.delete(send.clientMsgNo);
    this.bySeq.delete(send.clientSeq);
  }

  /** u32 on the wire; skips numbers still in use after a wrap. */
  private allocateSeq(): number {
    do this.nextClientSeq = (this.nextClientSeq % 0xffffffff) + 1;
    while (this.bySeq.has(this.nextClientSeq));
    return this.nextClientSeq;
  }
}

/** " RateLimit" for 22: the enum's reverse mapping; "" for codes it does not know. */
function reasonLabel(code: number): string {
  const label = (ReasonCode as unknown as Record<number, string | undefined>)[code];
  return label ? ` ${label}` : "";
}
