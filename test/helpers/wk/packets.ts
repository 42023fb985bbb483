/**
 * Packets as tests build them: every field at its usual value, the ones a test cares about set
 * by overrides, so a test reads as the fields it is about.
 */
import {
  ChannelType,
  type ConnectPacket,
  LATEST_VERSION,
  MIN_VERSION,
  PacketType,
  type SendPacket,
  createClientKeys,
  encodeConnect,
  negotiateVersion,
} from "../../../src/protocol/index.js";

/** The version a frame is encoded at for a requested one (0 = latest, capped at the latest, never below the oldest). */
export const codecVersion = (requested: number) => Math.max(MIN_VERSION, negotiateVersion(requested));

/** A SEND to a person channel with an empty payload and no msg_key (a client computes it over the final fields). */
export function sendPacket(o: Partial<SendPacket> = {}): SendPacket {
  return {
    type: PacketType.SEND,
    dup: false,
    syncOnce: false,
    redDot: true,
    noPersist: false,
    setting: 0,
    clientSeq: 1,
    clientMsgNo: Math.random().toString(36).slice(2),
    channelId: "",
    channelType: ChannelType.Person,
    expire: 0,
    msgKey: "",
    payload: new Uint8Array(0),
    ...o,
  };
}

/** A CONNECT of `uid` at the latest version with a fresh X25519 public key and no token. */
export function connectPacket(o: Partial<ConnectPacket> & { uid: string }): ConnectPacket {
  return {
    type: PacketType.CONNECT,
    version: LATEST_VERSION,
    deviceFlag: 0,
    deviceId: `${o.uid}-dev`,
    token: "",
    clientTimestamp: Date.now(),
    clientKey: createClientKeys().publicKeyBase64,
    ...o,
  };
}

/** connectPacket(o) on the wire; its layout is the same at every version. */
export function connectFrame(
  o: Partial<ConnectPacket> & { uid: string },
  encodeVersion = codecVersion(o.version ?? LATEST_VERSION),
): Buffer {
  return encodeConnect(connectPacket(o), encodeVersion);
}

/** A fixed header alone: `type` and a remaining length of `length` body bytes (that may never follow). */
export function frameHeader(type: PacketType, length: number): Buffer {
  const bytes = [type << 4];
  let v = length;
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    bytes.push(b);
  } while (v > 0);
  return Buffer.from(bytes);
}
