import { strSize } from "./bytes.js";
import { ConnackFlag, PacketType } from "./constants.js";
import { type BodySource, frameWriter, toReader } from "./header.js";
import { checkVersion } from "./version.js";

/**
 * CONNACK (server → client). Header bit0 announces a leading server_version byte; WuKongIM sets
 * it exactly when the client's CONNECT version is > 3. node_id exists from version 4.
 */
export interface ConnackPacket {
  type: PacketType.CONNACK;
  hasServerVersion: boolean;
  /** Written only with hasServerVersion; defaults to the encode version. */
  serverVersion?: number;
  /** server ms − client_timestamp. */
  timeDiff: number;
  /** ReasonCode.Success (1) means connected; anything else is a refusal. */
  reasonCode: number;
  /** base64 X25519 public key of the server; empty when refused. */
  serverKey: string;
  /** 16 chars, the AES IV of the session; empty when refused. */
  salt: string;
  /** Present from version 4 (0 when omitted on encode). */
  nodeId?: number;
}

/** The server_version, when sent, decides the layout: clients learn the version from it. */
function layoutVersion(hasServerVersion: boolean, serverVersion: number | undefined, version: number): number {
  return hasServerVersion && serverVersion !== undefined ? serverVersion : version;
}

export function encodeConnack(p: ConnackPacket, version: number): Buffer {
  checkVersion(version);
  const serverVersion = p.serverVersion ?? version;
  const v = layoutVersion(p.hasServerVersion, serverVersion, version);
  const size = (p.hasServerVersion ? 1 : 0) + 8 + 1 + strSize(p.serverKey) + strSize(p.salt) + (v >= 4 ? 8 : 0);
  const w = frameWriter(PacketType.CONNACK, p.hasServerVersion ? ConnackFlag.HasServerVersion : 0, size);
  if (p.hasServerVersion) w.u8(serverVersion);
  w.i64(p.timeDiff);
  w.u8(p.reasonCode);
  w.str(p.serverKey);
  w.str(p.salt);
  if (v >= 4) w.u64(p.nodeId ?? 0);
  return w.finish();
}

export function decodeConnackBody(body: BodySource, flags: number, version: number): ConnackPacket {
  checkVersion(version);
  const r = toReader(body);
  const hasServerVersion = (flags & ConnackFlag.HasServerVersion) !== 0;
  const p: ConnackPacket = { type: PacketType.CONNACK, hasServerVersion, timeDiff: 0, reasonCode: 0, serverKey: "", salt: "" };
  if (hasServerVersion) p.serverVersion = r.u8();
  p.timeDiff = r.i64();
  p.reasonCode = r.u8();
  p.serverKey = r.str();
  p.salt = r.str();
  if (layoutVersion(hasServerVersion, p.serverVersion, version) >= 4) p.nodeId = r.u64();
  return p;
}
