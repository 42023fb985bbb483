import { UnavailableError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { MemoryClusterHub, type MemoryPresenceState, type PresenceEntry } from "./memory-hub.js";
import { byDevice, checkBinding, checkDevice, checkEpoch, checkLimit, checkLookup, checkTtl, checkUid } from "./presence-common.js";
import type { BindResult, Presence, PresenceBinding } from "./presence.js";

export interface MemoryPresenceOptions {
  /** Shared with the other "nodes" of an in-process cluster; a fresh one when omitted. */
  hub?: MemoryClusterHub;
  logger?: Logger;
  now?: () => number;
}

/**
 * Presence in process memory with the same rules as RedisPresence: the highest epoch per
 * (uid, deviceFlag) wins, expired bindings count as absent and are dropped when next touched.
 */
export class MemoryPresence implements Presence {
  private readonly state: MemoryPresenceState;
  private readonly now: () => number;
  private closed = false;

  constructor(options: MemoryPresenceOptions = {}) {
    this.state = (options.hub ?? new MemoryClusterHub()).presence;
    this.now = options.now ?? Date.now;
  }

  async nextEpoch(uid: string): Promise<number> {
    this.checkOpen();
    checkUid(uid);
    return ++this.state.epoch;
  }

  async bind(binding: PresenceBinding, ttlMs: number): Promise<BindResult> {
    this.checkOpen();
    checkBinding(binding);
    checkTtl(ttlMs);
    const now = this.now();
    let devices = this.state.byUid.get(binding.uid);
    const current = devices?.get(binding.deviceFlag);
    let displaced: PresenceBinding | undefined;
    if (current && current.expiresAt > now) {
      if (current.binding.epoch > binding.epoch) return { accepted: false };
      if (current.binding.epoch < binding.epoch) displaced = { ...current.binding };
    }
    if (current) this.unindex(current.binding);
    if (!devices) {
      devices = new Map();
      this.state.byUid.set(binding.uid, devices);
    }
    devices.set(binding.deviceFlag, { binding: { ...binding }, expiresAt: now + ttlMs });
    this.index(binding);
    return displaced ? { accepted: true, displaced } : { accepted: true };
  }

  async unbind(uid: string, deviceFlag: number, epoch: number): Promise<void> {
    this.checkOpen();
    checkUid(uid);
    checkDevice(deviceFlag);
    checkEpoch(epoch);
    const current = this.state.byUid.get(uid)?.get(deviceFlag);
    if (current && current.binding.epoch === epoch) this.remove(current);
  }

  async refresh(nodeId: string, bindings: PresenceBinding[], ttlMs: number): Promise<void> {
    this.checkOpen();
    checkTtl(ttlMs);
    const expiresAt = this.now() + ttlMs;
    for (const b of bindings) {
      checkBinding(b);
      // Only a binding that is still this node's login is extended; one displaced by a newer login stays gone.
      const current = this.state.byUid.get(b.uid)?.get(b.deviceFlag);
      if (current) {
        if (current.binding.epoch === b.epoch && current.binding.nodeId === nodeId) current.expiresAt = expiresAt;
      } else if (b.nodeId === nodeId) {
        // Lost (pruned after expiry, or the node was declared dead) while the session lives on:
        // write it back, and lift the epoch counter past it so a later login still wins.
        let devices = this.state.byUid.get(b.uid);
        if (!devices) {
          devices = new Map();
          this.state.byUid.set(b.uid, devices);
        }
        devices.set(b.deviceFlag, { binding: { ...b }, expiresAt });
        this.index(b);
        if (this.state.epoch < b.epoch) this.state.epoch = b.epoch;
      }
    }
  }

  async lookup(uids: string[]): Promise<Map<string, PresenceBinding[]>> {
    this.checkOpen();
    checkLookup(uids);
    const now = this.now();
    const out = new Map<string, PresenceBinding[]>();
    for (const uid of uids) {
      if (out.has(uid)) continue;
      const live = this.live(uid, now);
      if (live.length > 0) out.set(uid, live.sort(byDevice));
    }
    return out;
  }

  async removeNode(nodeId: string): Promise<void> {
    this.checkOpen();
    const uids = this.state.byNode.get(nodeId);
    if (!uids) return;
    for (const uid of [...uids]) {
      for (const entry of [...(this.state.byUid.get(uid)?.values() ?? [])]) {
        if (entry.binding.nodeId === nodeId) this.remove(entry);
      }
    }
    this.state.byNode.delete(nodeId);
  }

  async onlineUids(limit: number): Promise<string[]> {
    this.checkOpen();
    checkLimit(limit);
    const now = this.now();
    const out: string[] = [];
    for (const uid of [...this.state.byUid.keys()]) {
      if (out.length >= limit) break;
      if (this.live(uid, now).length > 0) out.push(uid);
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new UnavailableError("presence is closed");
  }

  /** Live bindings of a uid (copies); expired ones are dropped on the way. */
  private live(uid: string, now: number): PresenceBinding[] {
    const devices = this.state.byUid.get(uid);
    if (!devices) return [];
    const out: PresenceBinding[] = [];
    for (const entry of [...devices.values()]) {
      if (entry.expiresAt > now) out.push({ ...entry.binding });
      else this.remove(entry);
    }
    return out;
  }

  private remove(entry: PresenceEntry): void {
    const { uid, deviceFlag } = entry.binding;
    const devices = this.state.byUid.get(uid);
    if (devices?.get(deviceFlag) !== entry) return;
    devices.delete(deviceFlag);
    if (devices.size === 0) this.state.byUid.delete(uid);
    this.unindex(entry.binding);
  }

  private index(b: PresenceBinding): void {
    let uids = this.state.byNode.get(b.nodeId);
    if (!uids) {
      uids = new Set();
      this.state.byNode.set(b.nodeId, uids);
    }
    uids.add(b.uid);
  }

  /** Drop the uid from the node's index unless another device of it is still bound there. */
  private unindex(b: PresenceBinding): void {
    const uids = this.state.byNode.get(b.nodeId);
    if (!uids) return;
    const devices = this.state.byUid.get(b.uid);
    for (const entry of devices?.values() ?? []) {
      if (entry.binding.nodeId === b.nodeId && entry.binding.deviceFlag !== b.deviceFlag) return;
    }
    uids.delete(b.uid);
    if (uids.size === 0) this.state.byNode.delete(b.nodeId);
  }
}
