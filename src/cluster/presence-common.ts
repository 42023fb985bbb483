/** Argument checks shared by the Presence backends, so both refuse the same input. */
import { InvalidArgumentError } from "../util/errors.js";
import { assertUidShape } from "../util/validate.js";
import type { PresenceBinding } from "./presence.js";

/** Most uids one lookup() may ask for (a group fan-out is split by the caller beyond this). */
export const MAX_LOOKUP_UIDS = 100_000;

/** The edge's uid rule (util/validate.ts), system uid allowed: messages from it look it up. */
export function checkUid(uid: unknown): string {
  assertUidShape(uid);
  return uid;
}

export function checkDevice(deviceFlag: unknown): number {
  if (!Number.isInteger(deviceFlag) || (deviceFlag as number) < 0 || (deviceFlag as number) > 255) {
    throw new InvalidArgumentError(`deviceFlag must be an integer 0..255, got ${String(deviceFlag)}`);
  }
  return deviceFlag as number;
}

export function checkEpoch(epoch: unknown): number {
  if (!Number.isSafeInteger(epoch) || (epoch as number) < 1)
    throw new InvalidArgumentError(`epoch must be a positive integer, got ${String(epoch)}`);
  return epoch as number;
}

export function checkTtl(ttlMs: unknown): number {
  if (!Number.isInteger(ttlMs) || (ttlMs as number) <= 0)
    throw new InvalidArgumentError(`ttlMs must be a positive integer, got ${String(ttlMs)}`);
  return ttlMs as number;
}

export function checkBinding(b: PresenceBinding): void {
  checkUid(b?.uid);
  checkDevice(b.deviceFlag);
  checkEpoch(b.epoch);
  if (typeof b.nodeId !== "string" || b.nodeId.length === 0) throw new InvalidArgumentError("nodeId must be a non-empty string");
  if (typeof b.connId !== "string") throw new InvalidArgumentError("connId must be a string");
}

export function checkLimit(limit: unknown): number {
  if (!Number.isInteger(limit) || (limit as number) < 0)
    throw new InvalidArgumentError(`limit must be a non-negative integer, got ${String(limit)}`);
  return limit as number;
}

export function checkLookup(uids: unknown): string[] {
  if (!Array.isArray(uids)) throw new InvalidArgumentError("uids must be an array");
  if (uids.length > MAX_LOOKUP_UIDS) throw new InvalidArgumentError(`at most ${MAX_LOOKUP_UIDS} uids per lookup`);
  for (const uid of uids) checkUid(uid);
  return uids as string[];
}

export function byDevice(a: PresenceBinding, b: PresenceBinding): number {
  return a.deviceFlag - b.deviceFlag;
}
