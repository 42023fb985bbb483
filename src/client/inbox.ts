/**
 * What reaches the app: every message once (by messageId), in seq order per channel. Per channel
 * it keeps a contiguous mark (every seq up to it was shown or deliberately skipped) plus the seqs
 * seen above it; seqs missing between the two are a gap, which a sync from mark+1 fills. While a
 * sync runs, live messages are held and shown after it, so they never overtake older missed ones.
 */
import type { ClientMessage, InboundMessage } from "./types.js";

/** Message ids remembered for de-duplication (oldest forgotten first); seqs at or below a mark need none. */
const SEEN_IDS = 50_000;

interface ChannelState {
  mark: number;
  above: Set<number>;
}

export interface ChannelCatchUp {
  channelId: string;
  channelType: number;
  /** The channel's last seq when the sync asked: everything up to it has now been offered. */
  lastSeq: number;
  /** Oldest first. */
  messages: InboundMessage[];
}

export const channelKey = (channelType: number, channelId: string) => `${channelType}:${channelId}`;

const utf8 = new TextDecoder();

export class Inbox {
  private readonly seen = new Set<number>();
  private readonly channels = new Map<string, ChannelState>();
  private holding = false;
  private held: InboundMessage[] = [];

  constructor(private readonly show: (m: ClientMessage) => void) {}

  /** A message that came live; true when its channel now has a gap behind it. */
  live(m: InboundMessage): boolean {
    if (this.holding) {
      this.held.push(m);
      return false;
    }
    return this.accept(m, false);
  }

  /** Our own message was stored: it is never shown back to us, and its seq counts as seen. */
  sent(channelType: number, channelId: string, messageId: number, messageSeq: number): void {
    this.remember(messageId);
    const ch = this.channels.get(channelKey(channelType, channelId));
    if (ch && messageSeq > 0) this.note(ch, messageSeq);
  }

  /** Where a sync starts per channel ("type:id" -> last contiguous seq). */
  marks(): ReadonlyMap<string, number> {
    return new Map([...this.channels].map(([k, ch]) => [k, ch.mark]));
  }

  hasGaps(): boolean {
    for (const ch of this.channels.values()) if (ch.above.size > 0) return true;
    return false;
  }

  /** A sync is starting: hold live messages until release(). */
  hold(): void {
    this.holding = true;
  }

  /** One channel's sync result: show what is new, then treat the server's answer as complete up to lastSeq. */
  synced(c: ChannelCatchUp): void {
    for (const m of c.messages) this.accept(m, true);
    const key = channelKey(c.channelType, c.channelId);
    const ch = this.channels.get(key) ?? { mark: 0, above: new Set<number>() };
    this.channels.set(key, ch);
    if (c.lastSeq > ch.mark) {
      ch.mark = c.lastSeq;
      for (const s of ch.above) if (s <= ch.mark) ch.above.delete(s);
      this.advance(ch);
    }
  }

  /**
   * The sync ended. After a complete one, gaps it could not fill are given up (the server has no
   * such messages for us). Then the held live messages are shown. True if a gap remains.
   */
  release(completed: boolean): boolean {
    if (completed) {
      for (const ch of this.channels.values()) {
        if (ch.above.size === 0) continue;
        ch.mark = Math.max(ch.mark, ...ch.above);
        ch.above.clear();
      }
    }
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const m of held) this.accept(m, false);
    return this.hasGaps();
  }

  private accept(m: InboundMessage, synced: boolean): boolean {
    if (this.seen.has(m.messageId)) return false;
    const key = channelKey(m.channelType, m.channelId);
    let ch = this.channels.get(key);
    if (m.messageSeq > 0 && ch && m.messageSeq <= ch.mark) return false;
    this.remember(m.messageId);
    if (m.messageSeq > 0) {
      if (ch) this.note(ch, m.messageSeq);
      else {
        // First sight of the channel: history before this message is not ours to fetch now.
        ch = { mark: m.messageSeq, above: new Set() };
        this.channels.set(key, ch);
      }
    }
    this.show({ ...m, text: utf8.decode(m.payload), synced });
    return (ch?.above.size ?? 0) > 0;
  }

  private note(ch: ChannelState, seq: number): void {
    if (seq <= ch.mark) return;
    ch.above.add(seq);
    this.advance(ch);
  }

  private advance(ch: ChannelState): void {
    while (ch.above.delete(ch.mark + 1)) ch.mark++;
  }

  private remember(messageId: number): void {
    if (this.seen.has(messageId)) return;
    this.seen.add(messageId);
    if (this.seen.size > SEEN_IDS) this.seen.delete(this.seen.values().next().value as number);
  }
}
