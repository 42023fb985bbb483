import { strSize } from "./bytes.js";
import { PacketType } from "./constants.js";
import { type BodySource, frameWriter, toReader } from "./header.js";
import { checkVersion } from "./version.js";

/** SUB (client → server): subscribe to / unsubscribe from a channel (SDK channelManager.onSubscribe). */
export interface SubPacket {
  type: PacketType.SUB;
  setting: number;
  /** Client-chosen id echoed by SUBACK (the SDK calls it clientMsgNo). */
  subNo: string;
  channelId: string;
  channelType: number;
  /** A SubAction: 0 subscribe, 1 unsubscribe. */
  action: number;
  /** JSON text. */
  param: string;
}

export function encodeSub(p: SubPacket, version: number): Buffer {
  checkVersion(version);
  const size = 1 + strSize(p.subNo) + strSize(p.channelId) + 1 + 1 + strSize(p.param);
  const w = frameWriter(PacketType.SUB, 0, size);
  w.u8(p.setting);
  w.str(p.subNo);
  w.str(p.channelId);
  w.u8(p.channelType);
  w.u8(p.action);
  w.str(p.param);
  return w.finish();
}

export function decodeSubBody(body: BodySource, _flags: number, version: number): SubPacket {
  checkVersion(version);
  const r = toReader(body);
  return {
    type: PacketType.SUB,
    setting: r.u8(),
    subNo: r.str(),
    channelId: r.str(),
    channelType: r.u8(),
    action: r.u8(),
    param: r.str(),
  };
}
