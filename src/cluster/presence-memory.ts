import { UnavailableError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { MemoryClusterHub, type MemoryPresenceState, type PresenceEntry } from "./memory-hub.js";
import {
  EVERY_NODE_ALIVE,
  byDevice,
  checkBinding,
  checkDevice,
  checkEpoch,
  checkLimit,
  checkLookup,
  checkTtl,
  checkUid,
  isLive,
} from "./presence-common.js";
import type { BindResult, NodeLiveness, Presence, PresenceBinding } from "./presence.js";

export interface MemoryPresenceOptions {
  /** Shared with the other "nodes" of an in-process cluster; a fresh one when omitted. */
  hub?: MemoryClusterHub;
  logger?: Logger;
  /** Whether a node run is alive (see Presence.setNodeLiveness); every node when omitted. */
  isNodeAlive?: NodeLiveness;
}

/**
 * Presence in process memory with the same rules as RedisPresence: the highest epoch per
 * (uid, deviceFlag) wins, a binding of a dead node counts as absent (dropped when next touched).
 */
export class MemoryPresence implements Presence {
  private readonly state: MemoryPresenceState;
  private isNodeAlive: NodeLiveness;
  private closed = false;

  constructor(options: MemoryPresenceOptions = {}) {
    this.state = (options.hub ?? new MemoryClusterHub()).presence;
    this.isNodeAlive = options.isNodeAlive ?? EVERY_NODE_ALIVE;
  }

  setNodeLiveness(isNodeAlive: NodeLiveness): void {
    this.isNodeAlive = isNodeAlive;
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
    const current = this.state.byUid.get(binding.uid)?.get(binding.deviceFlag);
    let displaced: PresenceBinding | undefined;
    if (current && isLive(current.binding, this.isNodeAlive)) {
      if (current.binding.epoch > binding.epoch) return { accepted: false };
      if (current.binding.epoch < binding.epoch) displaced = { ...current.binding };
    }
    if (current) this.remove(current);
    this.put(binding);
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
    for (const b of bindings) checkBinding(b);
    for (const b of bindings) {
      // Memory loses nothing by itself: only removeNode (a node wrongly declared dead) leaves gaps.
      // A gap is refilled, and the epoch counter lifted past it so a later login still wins; a
      // device held by any other binding (a newer login) stays as it is.
      if (b.nodeId !== nodeId || this.state.byUid.get(b.uid)?.has(b.deviceFlag)) continue;
      this.put(b);
      if (this.state.epoch < b.epoch) this.state.epoch = b.epoch;
    }
  }

  async lookup(uids: string[]): Promise<Map<string, PresenceBinding[]>> {
    this.checkOpen();
    checkLookup(uids);
    const out = new Map<string, PresenceBinding[]>();
    for (const uid of uids) {
      if (out.has(uid)) continue;
      const live = this.live(uid);
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
    const out: string[] = [];
    for (const uid of [...this.state.byUid.keys()]) {
      if (out.length >= limit) break;
      if (this.live(uid).length > 0) out.push(uid);
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new UnavailableError("presence is closed");
  }

  /** Live bindings of a uid (copies). Dead ones stay until overwritten or removeNode: the node
   * may only be missing from this process's node list for a moment. */
  private live(uid: string): PresenceBinding[] {
    const out: PresenceBinding[] = [];
    for (const entry of this.state.byUid.get(uid)?.values() ?? []) {
      if (isLive(entry.binding, this.isNodeAlive)) out.push({ ...entry.binding });
    }
    return out;
  }

  private put(b: PresenceBinding): void {
    let devices = this.state.byUid.get(b.uid);
    if (!devices) {
      devices = new Map();
      this.state.byUid.set(b.uid, devices);
    }
    // expiresAt is unused: bindings are leases on their node (presence.ts).
    devices.set(b.deviceFlag, { binding: { ...b }, expiresAt: Number.POSITIVE_INFINITY });
    this.index(b);
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
