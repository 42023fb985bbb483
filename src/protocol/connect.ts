import { strSize } from "./bytes.js";
import { PacketType } from "./constants.js";
import { type BodySource, frameWriter, toReader } from "./header.js";
import { checkVersion } from "./version.js";

/** CONNECT (client → server). Its layout is the same in every version: the server learns the version from it. */
export interface ConnectPacket {
  type: PacketType.CONNECT;
  /** The version the client asks for (0 = latest); negotiate with negotiateVersion(). */
  version: number;
  /** A DeviceFlag: 0 app, 1 web, 2 pc, 99 system. */
  deviceFlag: number;
  deviceId: string;
  uid: string;
  token: string;
  /** Client clock, unix ms. */
  clientTimestamp: number;
  /** base64 of the client's 32-byte X25519 public key. */
  clientKey: string;
}

export function encodeConnect(p: ConnectPacket, version: number): Buffer {
  checkVersion(version);
  const size = 2 + strSize(p.deviceId) + strSize(p.uid) + strSize(p.token) + 8 + strSize(p.clientKey);
  const w = frameWriter(PacketType.CONNECT, 0, size);
  w.u8(p.version);
  w.u8(p.deviceFlag);
  w.str(p.deviceId);
  w.str(p.uid);
  w.str(p.token);
  w.i64(p.clientTimestamp);
  w.str(p.clientKey);
  return w.finish();
}

/** `_flags` and `_version` are unused: CONNECT is parsed before any version is known. */
export function decodeConnectBody(body: BodySource, _flags = 0, _version?: number): ConnectPacket {
  const r = toReader(body);
  return {
    type: PacketType.CONNECT,
    version: r.u8(),
    deviceFlag: r.u8(),
    deviceId: r.str(),
    uid: r.str(),
    token: r.str(),
    clientTimestamp: r.i64(),
    clientKey: r.str(),
  };
}
