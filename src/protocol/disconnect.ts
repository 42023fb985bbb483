import { strSize } from "./bytes.js";
import { PacketType } from "./constants.js";
import { type BodySource, frameWriter, toReader } from "./header.js";
import { checkVersion } from "./version.js";

/** DISCONNECT: the server's kick (e.g. ConnectKick, "login in other device"); the JS SDK never sends it. */
export interface DisconnectPacket {
  type: PacketType.DISCONNECT;
  reasonCode: number;
  reason: string;
}

export function encodeDisconnect(p: DisconnectPacket, version: number): Buffer {
  checkVersion(version);
  const w = frameWriter(PacketType.DISCONNECT, 0, 1 + strSize(p.reason));
  w.u8(p.reasonCode);
  w.str(p.reason);
  return w.finish();
}

export function decodeDisconnectBody(body: BodySource, _flags: number, version: number): DisconnectPacket {
  checkVersion(version);
  const r = toReader(body);
  return { type: PacketType.DISCONNECT, reasonCode: r.u8(), reason: r.str() };
}
