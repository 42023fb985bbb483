/** Argument checks shared by the Presence backends, so both refuse the same input, and small shared parts. */
import { InvalidArgumentError } from "../util/errors.js";
import { assertUidShape } from "../util/validate.js";
import type { NodeLiveness, PresenceBinding } from "./presence.js";

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
  if (b.incarnation !== undefined && (!Number.isSafeInteger(b.incarnation) || b.incarnation < 0))
    throw new InvalidArgumentError(`incarnation must be a non-negative integer, got ${String(b.incarnation)}`);
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

/** Without a node registry (tests, a lone process) every node counts as alive. */
export const EVERY_NODE_ALIVE: NodeLiveness = () => true;

/**
 * Liveness from the node registry (a NodeDirectory): a binding is live while its node is listed
 * and was written by the listed run or a newer one. Newer: the node restarted and this copy of the
 * list has not heard yet, so the binding is surely not from a dead run. A node not listed yet
 * (joined moments ago, before the watch event arrived) counts as dead until it is.
 */
export function directoryLiveness(directory: { get(nodeId: string): { startedAt: number } | undefined }): NodeLiveness {
  return (nodeId, incarnation) => {
    const node = directory.get(nodeId);
    return node !== undefined && (incarnation === 0 || incarnation >= node.startedAt);
  };
}

/** The binding's node run is alive (absent incarnation: any run). */
export function isLive(b: PresenceBinding, isNodeAlive: NodeLiveness): boolean {
  return isNodeAlive(b.nodeId, b.incarnation ?? 0);
}

type Found = Map<string, PresenceBinding[]>;

/**
 * Lookups asked in the same tick are answered by one call of lookupNow for all their (distinct)
 * uids, each caller getting exactly its own; with one caller, its answer as is.
 */
export function coalesceLookups(lookupNow: (uids: string[]) => Promise<Found>): (uids: string[]) => Promise<Found> {
  let pending: { uids: string[]; resolve: (found: Found) => void; reject: (err: Error) => void }[] = [];
  const flush = async () => {
    const batch = pending;
    pending = [];
    try {
      const found = await lookupNow(batch.length === 1 ? batch[0].uids : [...new Set(batch.flatMap((b) => b.uids))]);
      for (const b of batch) {
        if (batch.length === 1) b.resolve(found);
        else b.resolve(new Map(b.uids.flatMap((uid) => (found.has(uid) ? [[uid, found.get(uid) as PresenceBinding[]]] : []))));
      }
    } catch (err) {
      for (const b of batch) b.reject(err as Error);
    }
  };
  return (uids) => {
    const unique = [...new Set(uids)];
    if (unique.length === 0) return Promise.resolve(new Map());
    return new Promise((resolve, reject) => {
      pending.push({ uids: unique, resolve, reject });
      if (pending.length === 1) setImmediate(() => void flush());
    });
  };
}
