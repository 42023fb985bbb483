/**
 * Whole-frame encode/decode over every packet kind. Stream input (glued or split frames) goes
 * through FrameDecoder, which uses the same pieces.
 */
import { Reader, readVarint } from "./bytes.js";
import { type ConnackPacket, decodeConnackBody, encodeConnack } from "./connack.js";
import { type ConnectPacket, decodeConnectBody, encodeConnect } from "./connect.js";
import { PacketType } from "./constants.js";
import { type DisconnectPacket, decodeDisconnectBody, encodeDisconnect } from "./disconnect.js";
import { bodyError, headerError } from "./errors.js";
import { type EventPacket, decodeEventBody, encodeEvent } from "./event.js";
import { type PingPacket, type PongPacket, decodePingBody, decodePongBody, encodePing, encodePong } from "./ping.js";
import { type RecvPacket, decodeRecvBody, encodeRecv } from "./recv.js";
import { type RecvackPacket, decodeRecvackBody, encodeRecvack } from "./recvack.js";
import { type SendPacket, decodeSendBody, encodeSend } from "./send.js";
import { type SendackPacket, decodeSendackBody, encodeSendack } from "./sendack.js";
import { type SubPacket, decodeSubBody, encodeSub } from "./sub.js";
import { type SubackPacket, decodeSubackBody, encodeSuback } from "./suback.js";
import { checkVersion } from "./version.js";

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | SendPacket
  | SendackPacket
  | RecvPacket
  | RecvackPacket
  | PingPacket
  | PongPacket
  | DisconnectPacket
  | SubPacket
  | SubackPacket
  | EventPacket;

export function encodePacket(p: Packet, version: number): Buffer {
  switch (p.type) {
    case PacketType.CONNECT:
      return encodeConnect(p, version);
    case PacketType.CONNACK:
      return encodeConnack(p, version);
    case PacketType.SEND:
      return encodeSend(p, version);
    case PacketType.SENDACK:
      return encodeSendack(p, version);
    case PacketType.RECV:
      return encodeRecv(p, version);
    case PacketType.RECVACK:
      return encodeRecvack(p, version);
    case PacketType.PING:
      return encodePing(p, version);
    case PacketType.PONG:
      return encodePong(p, version);
    case PacketType.DISCONNECT:
      return encodeDisconnect(p, version);
    case PacketType.SUB:
      return encodeSub(p, version);
    case PacketType.SUBACK:
      return encodeSuback(p, version);
    case PacketType.EVENT:
      return encodeEvent(p, version);
    default:
      throw headerError(`cannot encode packet type ${(p as { type: unknown }).type}`);
  }
}

/** A parsed fixed header. PING/PONG have headerLength 1 and bodyLength 0. */
export interface FrameHead {
  type: PacketType;
  /** Low nibble of the header byte. */
  flags: number;
  headerLength: number;
  bodyLength: number;
}

function isPacketType(t: number): t is PacketType {
  return t >= PacketType.CONNECT && t <= PacketType.EVENT;
}

/**
 * Parses the fixed header at `pos`; undefined when [pos, end) stops inside it. Unknown types
 * throw at once, so garbage is rejected without waiting for a body that never comes.
 */
export function parseFrameHead(buf: Uint8Array, pos: number, end: number): FrameHead | undefined {
  if (pos >= end) return undefined;
  const b = buf[pos];
  const type = b >> 4;
  if (!isPacketType(type)) throw headerError(`unknown packet type ${type} (header byte 0x${b.toString(16).padStart(2, "0")})`);
  if (type === PacketType.PING || type === PacketType.PONG) return { type, flags: b & 0x0f, headerLength: 1, bodyLength: 0 };
  const varint = readVarint(buf, pos + 1, end);
  if (varint === undefined) return undefined;
  return { type, flags: b & 0x0f, headerLength: 1 + varint[1], bodyLength: varint[0] };
}

/** Decodes a body already bounded by `reader` (which must end where the frame ends). */
export function decodeFrameBody(type: PacketType, flags: number, reader: Reader, version: number): Packet {
  switch (type) {
    case PacketType.CONNECT:
      return decodeConnectBody(reader);
    case PacketType.CONNACK:
      return decodeConnackBody(reader, flags, version);
    case PacketType.SEND:
      return decodeSendBody(reader, flags, version);
    case PacketType.SENDACK:
      return decodeSendackBody(reader, flags, version);
    case PacketType.RECV:
      return decodeRecvBody(reader, flags, version);
    case PacketType.RECVACK:
      return decodeRecvackBody(reader, flags, version);
    case PacketType.PING:
      return decodePingBody();
    case PacketType.PONG:
      return decodePongBody();
    case PacketType.DISCONNECT:
      return decodeDisconnectBody(reader, flags, version);
    case PacketType.SUB:
      return decodeSubBody(reader, flags, version);
    case PacketType.SUBACK:
      return decodeSubackBody(reader, flags, version);
    case PacketType.EVENT:
      return decodeEventBody(reader, flags, version);
    default:
      throw headerError(`unknown packet type ${type}`);
  }
}

/**
 * Decodes exactly one complete frame. Missing or extra bytes are errors; trailing bytes inside
 * the frame's own length are tolerated like the Go and JS decoders do (SENDACK grew that way).
 */
export function decodePacket(frame: Uint8Array, version: number): Packet {
  checkVersion(version);
  const head = parseFrameHead(frame, 0, frame.byteLength);
  if (head === undefined) throw bodyError("truncated frame header");
  const size = head.headerLength + head.bodyLength;
  if (size > frame.byteLength) throw bodyError(`truncated frame: ${frame.byteLength} of ${size} bytes`);
  if (size < frame.byteLength) throw bodyError(`${frame.byteLength - size} bytes after the frame`);
  return decodeFrameBody(head.type, head.flags, new Reader(frame, head.headerLength, size), version);
}
