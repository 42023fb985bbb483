/**
 * What a chat application shows of its channels: each message once (by message_id), per channel
 * the seqs it holds, and the HTTP sync an app runs to pull what it is missing.
 */
import type { ApiClient } from "../server.js";
import { sleep } from "../wait.js";

export const channelKey = (channelType: number, channelId: string) => `${channelType}:${channelId}`;

/** A message as the application shows it. */
export interface Shown {
  messageId: string;
  seq: number;
  /** "<channel_type>:<channel_id>" as this user sees the channel (the peer's uid for person channels). */
  channel: string;
  fromUid: string;
  clientMsgNo: string;
  text: string;
  via: "recv" | "sync" | "self";
  /** Unix ms when this client got it. */
  at: number;
}

/** Counters the view adds to (the owning client's stats). */
export interface SyncStats {
  syncCalls: number;
  /** Sync requests asked again after a network error. */
  syncRetries: number;
  syncedNew: number;
  /** Messages a sync returned that were already shown. */
  syncedOverlap: number;
}

export class AppView {
  /** Messages shown, by message_id: each at most once. */
  readonly shown = new Map<string, Shown>();
  /** Per channel: the seqs held. */
  readonly seqs = new Map<string, Set<number>>();

  constructor(
    readonly uid: string,
    readonly stats: SyncStats,
  ) {}

  /** Shows `m` (the caller checked it is not shown yet) and notes its seq. */
  record(m: Omit<Shown, "at">): void {
    this.shown.set(m.messageId, { ...m, at: Date.now() });
    let set = this.seqs.get(m.channel);
    if (!set) {
      set = new Set();
      this.seqs.set(m.channel, set);
    }
    set.add(m.seq);
  }

  /** The highest seq of `channel` below which this client holds every message. */
  contiguousSeq(channel: string): number {
    const set = this.seqs.get(channel);
    if (!set) return 0;
    let s = 0;
    while (set.has(s + 1)) s++;
    return s;
  }

  /**
   * Pull the channel from the last seq held without a hole (HTTP /channel/messagesync), page by
   * page; what is new is shown, what was already shown is counted as overlap. Returns how many new.
   */
  async sync(api: ApiClient, channelId: string, channelType: number, headers?: Record<string, string>, pageLimit = 500): Promise<number> {
    const channel = channelKey(channelType, channelId);
    let start = this.contiguousSeq(channel);
    let added = 0;
    for (let page = 0; page < 1000; page++) {
      this.stats.syncCalls++;
      const body = {
        login_uid: this.uid,
        channel_id: channelId,
        channel_type: channelType,
        start_message_seq: start,
        end_message_seq: 0,
        limit: pageLimit,
        pull_mode: 1,
      };
      // A read: safe to ask again when the connection broke under load.
      let res: Awaited<ReturnType<ApiClient["post"]>> | undefined;
      for (let attempt = 0; !res; attempt++) {
        try {
          res = await api.post("/channel/messagesync", body, headers);
        } catch (err) {
          if (attempt >= 3) throw err;
          this.stats.syncRetries++;
          await sleep(250 * 2 ** attempt);
        }
      }
      if (res.status !== 200) throw new Error(`${this.uid}: messagesync ${channel} answered ${res.status} ${JSON.stringify(res.body)}`);
      const messages = res.body.messages as {
        message_idstr: string;
        message_seq: number;
        from_uid: string;
        client_msg_no: string;
        payload: string;
      }[];
      let maxSeq = start;
      for (const m of messages) {
        maxSeq = Math.max(maxSeq, m.message_seq);
        if (m.message_seq <= start) continue;
        if (this.shown.has(m.message_idstr)) {
          this.stats.syncedOverlap++;
          continue;
        }
        const text = Buffer.from(m.payload, "base64").toString("utf8");
        this.record({
          messageId: m.message_idstr,
          seq: m.message_seq,
          channel,
          fromUid: m.from_uid,
          clientMsgNo: m.client_msg_no,
          text,
          via: "sync",
        });
        this.stats.syncedNew++;
        added++;
      }
      if (res.body.more !== 1 || maxSeq === start) break;
      start = maxSeq;
    }
    return added;
  }

  /** Messages shown twice under different ids for one (from_uid, client_msg_no): a server-side double store. */
  appDuplicates(): number {
    const keys = new Set<string>();
    let dups = 0;
    for (const m of this.shown.values()) {
      const key = `${m.fromUid}\u0000${m.clientMsgNo}`;
      if (keys.has(key)) dups++;
      keys.add(key);
    }
    return dups;
  }
}
