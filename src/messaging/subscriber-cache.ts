import type { ChannelInfo, ChannelStore } from "../store/message-store.js";

/** How long channel facts are trusted before the store is asked again (other nodes may change them). */
export const SUBSCRIBER_CACHE_TTL_MS = 1_000;
/** Channels kept at most; the least recently loaded go first. */
export const SUBSCRIBER_CACHE_MAX = 10_000;

interface Entry {
  at: number;
  channel: ChannelInfo | undefined;
  members: string[] | undefined;
  memberSet: Set<string> | undefined;
}

export interface SubscriberCacheOptions {
  store: ChannelStore;
  ttlMs?: number;
  max?: number;
}

/**
 * Group facts on the send path (exists? banned? is the sender a member? who receives?) without a
 * database round trip per message. Entries live for a short TTL; changes made through this
 * process's API invalidate them at once, changes made elsewhere are seen within the TTL.
 */
export class SubscriberCache {
  private readonly store: ChannelStore;
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly entries = new Map<string, Entry>();

  constructor(options: SubscriberCacheOptions) {
    this.store = options.store;
    this.ttlMs = options.ttlMs ?? SUBSCRIBER_CACHE_TTL_MS;
    this.max = options.max ?? SUBSCRIBER_CACHE_MAX;
  }

  private entry(channelId: string, channelType: number): Entry {
    const key = `${channelType}:${channelId}`;
    let e = this.entries.get(key);
    const now = Date.now();
    if (!e || now - e.at > this.ttlMs) {
      e = { at: now, channel: undefined, members: undefined, memberSet: undefined };
      this.entries.delete(key);
      this.entries.set(key, e);
      if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
    }
    return e;
  }

  async channel(channelId: string, channelType: number): Promise<ChannelInfo | undefined> {
    const e = this.entry(channelId, channelType);
    if (e.channel === undefined) e.channel = await this.store.getChannel(channelId, channelType);
    return e.channel;
  }

  async list(channelId: string, channelType: number): Promise<string[]> {
    const e = this.entry(channelId, channelType);
    if (e.members === undefined) {
      e.members = await this.store.getSubscribers(channelId, channelType);
      e.memberSet = new Set(e.members);
    }
    return e.members;
  }

  async isSubscriber(channelId: string, channelType: number, uid: string): Promise<boolean> {
    await this.list(channelId, channelType);
    return this.entry(channelId, channelType).memberSet?.has(uid) ?? false;
  }

  invalidate(channelId: string, channelType: number): void {
    this.entries.delete(`${channelType}:${channelId}`);
  }
}
