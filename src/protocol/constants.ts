/**
 * WuKongIM wire constants (see docs/protocol.md). Values follow the server code, not the docs
 * pages, where the two disagree (e.g. EVENT is 12, not 10).
 */

/** High nibble of the fixed header. */
export enum PacketType {
  CONNECT = 1,
  CONNACK = 2,
  SEND = 3,
  SENDACK = 4,
  RECV = 5,
  RECVACK = 6,
  PING = 7,
  PONG = 8,
  DISCONNECT = 9,
  SUB = 10,
  SUBACK = 11,
  EVENT = 12,
}

/** Result codes carried by CONNACK, SENDACK, SUBACK and DISCONNECT (0..26 v2, 27..29 v3). */
export enum ReasonCode {
  Unknown = 0,
  Success = 1,
  AuthFail = 2,
  SubscriberNotExist = 3,
  InBlacklist = 4,
  ChannelNotExist = 5,
  UserNotOnNode = 6,
  SenderOffline = 7,
  MsgKeyError = 8,
  PayloadDecodeError = 9,
  ForwardSendPacketError = 10,
  NotAllowSend = 11,
  ConnectKick = 12,
  NotInWhitelist = 13,
  QueryTokenError = 14,
  SystemError = 15,
  ChannelIDError = 16,
  NodeMatchError = 17,
  NodeNotMatch = 18,
  Ban = 19,
  NotSupportHeader = 20,
  ClientKeyIsEmpty = 21,
  RateLimit = 22,
  NotSupportChannelType = 23,
  Disband = 24,
  SendBan = 25,
  ChannelDeleting = 26,
  ProtocolUpgradeRequired = 27,
  IdempotencyConflict = 28,
  MessageSeqExhausted = 29,
}

/** Low-nibble bits of the fixed header (every packet except CONNACK, PING, PONG). */
export const HeaderFlag = {
  /** A resend of an earlier packet. */
  DUP: 0x08,
  /** Deliver to only one of the user's devices (CMD messages). */
  SyncOnce: 0x04,
  /** Counts as unread. */
  RedDot: 0x02,
  /** Not stored. */
  NoPersist: 0x01,
} as const;

/** CONNACK uses the low nibble differently: bit0 says a server_version byte leads the body. */
export const ConnackFlag = {
  HasServerVersion: 0x01,
} as const;

/** Bits of the SEND/RECV/SUB `setting` byte (server `frame/setting.go`). */
export const Setting = {
  Receipt: 0x80,
  Signal: 0x20,
  /** v3 servers skip decryption for such SENDs; v2 ignores it. */
  NoEncrypt: 0x10,
  /** A `topic` string follows. */
  Topic: 0x08,
  /** Stream fields follow (versions 2..4 only). SDK 1.0.4 wrongly uses 0x04; we follow the server. */
  Stream: 0x02,
} as const;

/** CONNECT device_flag. */
export enum DeviceFlag {
  App = 0,
  Web = 1,
  PC = 2,
  System = 99,
}

/** Channel types used by WuKongIM (only person and group matter to Switchboard). */
export enum ChannelType {
  Person = 1,
  Group = 2,
  CustomerService = 3,
  Community = 4,
  CommunityTopic = 5,
  Info = 6,
  Data = 7,
  Temp = 8,
  Live = 9,
  Visitors = 10,
  Agent = 11,
  AgentGroup = 12,
}

/** SUB action byte. */
export enum SubAction {
  Subscribe = 0,
  Unsubscribe = 1,
}

/** The newest version we negotiate (the JS SDK reads message_seq as 4 bytes, so never 6). */
export const LATEST_VERSION = 5;
/** The oldest version we accept (wukongimjssdk 1.0.4 speaks 2). */
export const MIN_VERSION = 2;
/** The codec can also produce/parse version 6 (u64 message_seq); we never negotiate it. */
export const MAX_CODEC_VERSION = 6;
/** Default cap on remaining_length (the WuKongIM server's MaxRemaingLength). */
export const DEFAULT_MAX_FRAME = 1024 * 1024;
/** The largest value a 4-byte MQTT varint can hold. */
export const MAX_VARINT = 268_435_455;
/** Strings carry an i16 length. */
export const MAX_STRING_BYTES = 32_767;
