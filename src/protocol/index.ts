/** The WuKongIM wire protocol: I/O-free codec, stream decoder and payload encryption. */
export {
  ChannelType,
  ConnackFlag,
  DEFAULT_MAX_FRAME,
  DeviceFlag,
  HeaderFlag,
  LATEST_VERSION,
  MAX_CODEC_VERSION,
  MAX_STRING_BYTES,
  MAX_VARINT,
  MIN_VERSION,
  PacketType,
  ReasonCode,
  Setting,
  SubAction,
} from "./constants.js";
export { ProtocolError } from "./errors.js";
export { Reader, Writer, readVarint, strSize, varintSize } from "./bytes.js";
export type { BodySource, HeaderFlags } from "./header.js";
export { checkVersion, hasStreamFields, negotiateVersion } from "./version.js";
export { type ConnectPacket, decodeConnectBody, encodeConnect } from "./connect.js";
export { type ConnackPacket, decodeConnackBody, encodeConnack } from "./connack.js";
export { type SendPacket, decodeSendBody, encodeSend } from "./send.js";
export { type SendackPacket, decodeSendackBody, encodeSendack } from "./sendack.js";
export { type RecvPacket, decodeRecvBody, encodeRecv } from "./recv.js";
export { type RecvackPacket, decodeRecvackBody, encodeRecvack, recvackFor } from "./recvack.js";
export { PING_BYTE, PONG_BYTE, type PingPacket, type PongPacket, decodePingBody, decodePongBody, encodePing, encodePong } from "./ping.js";
export { type DisconnectPacket, decodeDisconnectBody, encodeDisconnect } from "./disconnect.js";
export { type SubPacket, decodeSubBody, encodeSub } from "./sub.js";
export { type SubackPacket, decodeSubackBody, encodeSuback } from "./suback.js";
export { type EventPacket, decodeEventBody, encodeEvent } from "./event.js";
export { type FrameHead, type Packet, decodeFrameBody, decodePacket, encodePacket, parseFrameHead } from "./codec.js";
export { FrameDecoder, type FrameDecoderOptions } from "./frame-decoder.js";
export {
  type ClientKeys,
  type CryptoSession,
  type DeriveOptions,
  type X25519KeyPair,
  createClientKeys,
  decryptPayload,
  deriveClientSession,
  deriveSession,
  encryptPayload,
  generateX25519KeyPair,
  randomSalt,
  recvMsgKey,
  sendMsgKey,
  x25519PrivateKeyFromRaw,
} from "./crypto.js";
