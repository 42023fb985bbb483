/**
 * The shared state of the in-process backends. Several MemoryNodeRegistry / MemoryPresence /
 * MemoryMessageBus instances given the same hub behave like nodes sharing one Redis: a cluster of
 * three runs in one test process, and a single process is simply a cluster of one.
 */
import type { NodeEvent, NodeInfo } from "./node-registry.js";
import type { PresenceBinding } from "./presence.js";

export interface RegistryEntry {
  node: NodeInfo;
  expiresAt: number;
}

export class MemoryRegistryState {
  readonly nodes = new Map<string, RegistryEntry>();
  readonly listeners = new Set<(event: NodeEvent) => void>();
}

export interface PresenceEntry {
  binding: PresenceBinding;
  expiresAt: number;
}

export class MemoryPresenceState {
  /** One counter for all uids: strictly increasing per uid, and one number to keep. */
  epoch = 0;
  /** uid -> deviceFlag -> binding. */
  readonly byUid = new Map<string, Map<number, PresenceEntry>>();
  /** nodeId -> uids with a binding there (for removeNode). */
  readonly byNode = new Map<string, Set<string>>();
}

/** Receives whole bus messages (batches of frames) for one subscribed node. */
export type MemoryBusReceiver = (message: Buffer, broadcast: boolean) => void;

export class MemoryBusState {
  readonly receivers = new Map<string, MemoryBusReceiver>();
}

export class MemoryClusterHub {
  readonly registry = new MemoryRegistryState();
  readonly presence = new MemoryPresenceState();
  readonly bus = new MemoryBusState();
}
