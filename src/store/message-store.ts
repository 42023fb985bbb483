/**
 * The durable message store: narrow interfaces (a message log, channels, conversations, tokens,
 * CIM accounts) that each backend implements side by side (message-store-sqlite.ts,
 * message-store-postgres.ts), with one contract suite per interface (test/contract/*-store.contract.ts,
 * message-log.contract.ts, store-lifecycle.contract.ts) run on every backend.
 *
 * Channel ids given to and returned by the store are canonical (see channel-id.ts): person
 * channels are "a@b". Translating to the id a user sees is the caller's job.
 */

/** Header flags of a message, as on the wire (low nibble of the fixed header). */
export interface MessageHeader {
  noPersist: boolean;
  redDot: boolean;
  syncOnce: boolean;
}

export interface AppendInput {
  fromUid: string;
  /** Canonical channel id. */
  channelId: string;
  channelType: number;
  /** Idempotency key chosen by the client; with fromUid it identifies a send across retries. */
  clientMsgNo: string;
  header: MessageHeader;
  /** The SEND setting byte, kept to rebuild RECV. */
  setting: number;
  /** Seconds to live, 0 = forever. */
  expire: number;
  topic: string;
  /** Plain (decrypted) payload bytes. */
  payload: Uint8Array;
  /** Unix seconds. */
  timestamp: number;
}

export interface AppendResult {
  messageId: number;
  messageSeq: number;
  timestamp: number;
  /** True when (fromUid, clientMsgNo) was stored before: the first message's ids are returned. */
  duplicate: boolean;
}

export interface StoredMessage {
  /** Global, store-assigned, strictly increasing, a safe JS integer (< 2^53). */
  messageId: number;
  /** Per-channel, starts at 1, strictly increasing with no gaps. */
  messageSeq: number;
  clientMsgNo: string;
  fromUid: string;
  channelId: string;
  channelType: number;
  header: MessageHeader;
  setting: number;
  expire: number;
  topic: string;
  timestamp: number;
  payload: Uint8Array;
}

export interface MessageRangeQuery {
  channelId: string;
  channelType: number;
  /** 0 with endSeq 0 = the latest `limit` messages. */
  startSeq: number;
  /** 0 = no bound. Exclusive. */
  endSeq: number;
  limit: number;
  /** 0 = from startSeq downward (older), 1 = from startSeq upward (newer); WuKongIM's pull_mode. */
  pullMode: 0 | 1;
}

export interface MessageRange {
  /** Always in ascending seq order. */
  messages: StoredMessage[];
  /** True when more messages exist beyond `limit` in the pull direction. */
  more: boolean;
}

export interface ChannelInfo {
  channelId: string;
  channelType: number;
  ban: boolean;
  disband: boolean;
  sendBan: boolean;
  large: boolean;
}

export interface ChannelUpdate {
  channelId: string;
  channelType: number;
  ban?: boolean;
  disband?: boolean;
  sendBan?: boolean;
  large?: boolean;
}

export interface ConversationSyncQuery {
  uid: string;
  /** Only conversations changed after this version (0 = all). */
  version: number;
  /** Recent messages per conversation (newest last), 0 = none. */
  msgCount: number;
  /** Client's last known seq per canonical channel key `${channelId}:${channelType}`; skip if server's last seq <= it. */
  lastMsgSeqs?: Map<string, number>;
  onlyUnread?: boolean;
  excludeChannelTypes?: number[];
  limit?: number;
}

export interface Conversation {
  uid: string;
  /** Canonical channel id. */
  channelId: string;
  channelType: number;
  unread: number;
  /** Unix seconds of the last message. */
  timestamp: number;
  lastMsgSeq: number;
  lastClientMsgNo: string;
  /** Seq up to which the user has read. */
  readedToMsgSeq: number;
  /** Monotonic change marker: the messageId of the last change. */
  version: number;
  recents: StoredMessage[];
}

export interface TokenRecord {
  uid: string;
  deviceFlag: number;
  token: string;
  /** 0 slave, 1 master. */
  deviceLevel: number;
}

/** Startup, shutdown and health of a store. */
export interface StoreLifecycle {
  /** Create or upgrade the schema; idempotent, runs on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /**
   * The cheapest call that proves the store can serve writes now: a round trip to PostgreSQL, a
   * one-row write to SQLite. Rejects as the other calls would (UnavailableError when unreachable).
   */
  ping(): Promise<void>;
}

/** Every channel's messages in seq order: the durable log sends are committed to. */
export interface MessageLog {
  /**
   * Store messages durably, in order, and return their ids only once committed. Each input gets
   * the next seq of its channel. A (fromUid, clientMsgNo) stored before is not stored again: its
   * first result comes back with duplicate=true. Batching many inputs into one call is how the
   * gateway reaches high throughput (one transaction / fsync for the batch).
   * Also updates conversations: the sender's read position moves to the new seq, and person
   * channels get a conversation row for both users.
   */
  append(inputs: AppendInput[]): Promise<AppendResult[]>;
  /** A fresh message id for messages that are not stored (NoPersist). */
  allocateMessageId(): Promise<number>;
  getMessages(query: MessageRangeQuery): Promise<MessageRange>;
  getMessagesBySeq(channelId: string, channelType: number, seqs: number[]): Promise<StoredMessage[]>;
  maxSeq(channelId: string, channelType: number): Promise<number>;
}

/** Groups: their settings and members. */
export interface ChannelStore {
  upsertChannel(update: ChannelUpdate): Promise<void>;
  getChannel(channelId: string, channelType: number): Promise<ChannelInfo | undefined>;
  /** Removes the channel, its subscribers and conversations; its messages may stay. */
  deleteChannel(channelId: string, channelType: number): Promise<void>;
  /** With reset=true the list replaces the current subscribers. Creates conversation rows for them. */
  addSubscribers(channelId: string, channelType: number, uids: string[], reset?: boolean): Promise<void>;
  removeSubscribers(channelId: string, channelType: number, uids: string[]): Promise<void>;
  getSubscribers(channelId: string, channelType: number): Promise<string[]>;
  isSubscriber(channelId: string, channelType: number, uid: string): Promise<boolean>;
}

/** Each user's conversations: unread counts and read positions. */
export interface ConversationStore {
  /** Conversations of a user that changed after query.version, newest first. */
  syncConversations(query: ConversationSyncQuery): Promise<Conversation[]>;
  /** Marks read up to messageSeq (0 = the channel's last seq). */
  clearUnread(uid: string, channelId: string, channelType: number, messageSeq?: number): Promise<void>;
  /** Sets the unread count (moves the read position to lastSeq - unread). */
  setUnread(uid: string, channelId: string, channelType: number, unread: number): Promise<void>;
  deleteConversation(uid: string, channelId: string, channelType: number): Promise<void>;
}

/** The tokens a CONNECT (and a user-credential API call) is checked against. */
export interface TokenStore {
  setToken(record: TokenRecord): Promise<void>;
  getToken(uid: string, deviceFlag: number): Promise<TokenRecord | undefined>;
}

/** CIM's accounts: a name gets an id once; registering it again returns the same account. */
export interface AccountStore {
  registerAccount(userName: string): Promise<Account>;
  /** The accounts among userIds that exist (each once, in no particular order). */
  getAccounts(userIds: string[]): Promise<Account[]>;
  /**
   * Saves the node a CIM login routed the account to (null clears it, as /offLine does).
   * Resolves to false when there is no such account.
   */
  setAccountRoute(userId: string, nodeId: string | null): Promise<boolean>;
}

/**
 * Everything a backend implements. Consumers take the narrow interface they use (a session
 * checks tokens; it does not get the message log).
 */
export interface MessageStore extends StoreLifecycle, MessageLog, ChannelStore, ConversationStore, TokenStore, AccountStore {}

/**
 * The calls that only read. A read that succeeds proves little about writes (a full or read-only
 * disk still serves reads), so only writes and ping() tell the store's health it is serving again.
 */
export const STORE_READS: ReadonlySet<keyof MessageStore> = new Set<keyof MessageStore>([
  "getMessages",
  "getMessagesBySeq",
  "maxSeq",
  "getChannel",
  "getSubscribers",
  "isSubscriber",
  "syncConversations",
  "getToken",
  "getAccounts",
]);

export interface Account {
  /** Decimal digits, unique (drawn from the message id counter). */
  userId: string;
  userName: string;
  /** Unix ms. */
  createdAt: number;
  /** Where the last CIM login sent the user, until /offLine clears it; null when none. */
  route: AccountRoute | null;
}

export interface AccountRoute {
  nodeId: string;
  /** Unix ms of the login that saved it. */
  at: number;
}
