import { strSize } from "./bytes.js";
import { PacketType } from "./constants.js";
import { type BodySource, frameWriter, toReader } from "./header.js";
import { checkVersion } from "./version.js";

/** EVENT (server → client): stream/AI events. Never encrypted; the SDK JSON.parses `data`, so it must be JSON. */
export interface EventPacket {
  type: PacketType.EVENT;
  id: string;
  /** The wire field is called `type`; renamed so it does not clash with the packet discriminant. */
  eventType: string;
  /** Unix ms (i64). */
  timestamp: number;
  data: Uint8Array;
}

export function encodeEvent(p: EventPacket, version: number): Buffer {
  checkVersion(version);
  const size = strSize(p.id) + strSize(p.eventType) + 8 + p.data.byteLength;
  const w = frameWriter(PacketType.EVENT, 0, size);
  w.str(p.id);
  w.str(p.eventType);
  w.i64(p.timestamp);
  w.bytes(p.data);
  return w.finish();
}

export function decodeEventBody(body: BodySource, _flags: number, version: number): EventPacket {
  checkVersion(version);
  const r = toReader(body);
  return { type: PacketType.EVENT, id: r.str(), eventType: r.str(), timestamp: r.i64(), data: r.rest() };
}
