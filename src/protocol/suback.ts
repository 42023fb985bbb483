import { strSize } from "./bytes.js";
import { PacketType } from "./constants.js";
import { type BodySource, frameWriter, toReader } from "./header.js";
import { checkVersion } from "./version.js";

/** SUBACK (server → client): the answer to a SUB. */
export interface SubackPacket {
  type: PacketType.SUBACK;
  subNo: string;
  channelId: string;
  channelType: number;
  action: number;
  reasonCode: number;
}

export function encodeSuback(p: SubackPacket, version: number): Buffer {
  checkVersion(version);
  const size = strSize(p.subNo) + strSize(p.channelId) + 1 + 1 + 1;
  const w = frameWriter(PacketType.SUBACK, 0, size);
  w.str(p.subNo);
  w.str(p.channelId);
  w.u8(p.channelType);
  w.u8(p.action);
  w.u8(p.reasonCode);
  return w.finish();
}

export function decodeSubackBody(body: BodySource, _flags: number, version: number): SubackPacket {
  checkVersion(version);
  const r = toReader(body);
  return {
    type: PacketType.SUBACK,
    subNo: r.str(),
    channelId: r.str(),
    channelType: r.u8(),
    action: r.u8(),
    reasonCode: r.u8(),
  };
}
