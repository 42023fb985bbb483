import { PacketType } from "./constants.js";

/** PING (client → server) and PONG (server → client) are one header byte each, with no length. */
export interface PingPacket {
  type: PacketType.PING;
}

export interface PongPacket {
  type: PacketType.PONG;
}

export const PING_BYTE = PacketType.PING << 4;
export const PONG_BYTE = PacketType.PONG << 4;

/** Arguments exist only for symmetry with the other encoders: the frame is always 0x70. */
export function encodePing(_p?: PingPacket, _version?: number): Buffer {
  return Buffer.of(PING_BYTE);
}

/** Always 0x80. A fresh buffer each time, so no caller can corrupt a shared one. */
export function encodePong(_p?: PongPacket, _version?: number): Buffer {
  return Buffer.of(PONG_BYTE);
}

export function decodePingBody(): PingPacket {
  return { type: PacketType.PING };
}

export function decodePongBody(): PongPacket {
  return { type: PacketType.PONG };
}
