/**
 * NodeRegistry on Redis. Nodes live in a hash (id -> "version|lastSeen|json") and a sorted set keyed by
 * expiry; announce/withdraw/sweep are Lua scripts on Redis' clock, so nodes with skewed clocks
 * agree on who is alive. Watchers hear changes through pub/sub, and a periodic sweep re-reads the
 * registry and reconciles their view: pub/sub is at-most-once, the sweep makes events eventual.
 */
import type { Redis } from "ioredis";
import { UnavailableError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import { REGISTRY_SWEEP_MS, checkAnnounce, nodeContentKey, sortById } from "./node-registry-common.js";
import type { NodeEvent, NodeInfo, NodeRegistry } from "./node-registry.js";
import {
  LUA_NOW,
  type RedisConnectionOptions,
  checkPrefix,
  defineScripts,
  logErrors,
  openRedis,
  quitQuietly,
  runScript,
} from "./redis-common.js";

/** How long a watcher remembers a leave, to ignore announces older than it that arrive late. */
export const REGISTRY_TOMBSTONE_MS = 60_000;

export interface RedisNodeRegistryOptions extends RedisConnectionOptions {
  /** Prefix of every key and channel, e.g. "switchboard". */
  prefix: string;
  /** How often watchers sweep expired nodes and reconcile with Redis. */
  sweepMs?: number;
  logger?: Logger;
}

/**
 * Every change takes a number from one counter (KEYS[3]); watchers order what they hear by it, so
 * a late pub/sub message never undoes a newer change, even within one millisecond.
 */
const SCRIPTS = {
  sbRegistryAnnounce: {
    keys: 3,
    lua: `${LUA_NOW}
local now = now_ms()
local id, json, ttl, channel = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local kind = 'join'
local old = redis.call('HGET', KEYS[1], id)
local oldExp = tonumber(redis.call('ZSCORE', KEYS[2], id))
if old and oldExp and oldExp > now then
  local oldJson = string.match(old, '^%d+|%d+|(.*)$')
  if oldJson == json then kind = '' else kind = 'update' end
end
local ver = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], id, int(ver) .. '|' .. int(now) .. '|' .. json)
redis.call('ZADD', KEYS[2], int(now + ttl), id)
if kind ~= '' then
  redis.call('PUBLISH', channel, '{"type":"' .. kind .. '","ver":' .. int(ver) .. ',"at":' .. int(now) .. ',"node":' .. json .. '}')
end
return kind`,
  },
  sbRegistryWithdraw: {
    keys: 3,
    lua: `${LUA_NOW}
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 1 then
  local ver = redis.call('INCR', KEYS[3])
  redis.call('PUBLISH', ARGV[2], '{"type":"leave","ver":' .. int(ver) .. ',"nodeId":' .. cjson.encode(ARGV[1]) .. '}')
end
return removed`,
  },
  /** Remove expired nodes (publishing their leave), then return [version, id, value, id, value, ...]. */
  sbRegistrySweepList: {
    keys: 3,
    lua: `${LUA_NOW}
local now = now_ms()
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now))
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  if redis.call('HDEL', KEYS[1], id) == 1 then
    local ver = redis.call('INCR', KEYS[3])
    redis.call('PUBLISH', ARGV[1], '{"type":"leave","ver":' .. int(ver) .. ',"nodeId":' .. cjson.encode(id) .. '}')
  end
end
local out = { redis.call('GET', KEYS[3]) or '0' }
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. int(now), '+inf')) do
  local v = redis.call('HGET', KEYS[1], id)
  if v then
    out[#out + 1] = id
    out[#out + 1] = v
  end
end
return out`,
  },
};

type Wire = { type: "join" | "update"; ver: number; at: number; node: NodeInfo } | { type: "leave"; ver: number; nodeId: string };

interface Seen {
  node: NodeInfo;
  key: string;
  ver: number;
}

interface Snapshot {
  /** The change counter when the snapshot was taken. */
  ver: number;
  nodes: { ver: number; node: NodeInfo }[];
}

const VALUE = /^(\d+)\|(\d+)\|(.*)$/s;

export class RedisNodeRegistry implements NodeRegistry {
  private readonly redis: Redis;
  private readonly owned: boolean;
  private readonly logger: Logger;
  private readonly sweepMs: number;
  private readonly keys: { nodes: string; expiry: string; version: string; channel: string };
  private readonly listeners = new Set<(event: NodeEvent) => void>();
  /** What this instance's watchers have been told, to turn pub/sub and sweeps into exact events. */
  private readonly view = new Map<string, Seen>();
  /** Leaves heard (version, local time), so an older join arriving late is ignored. */
  private readonly tombstones = new Map<string, { ver: number; at: number }>();
  private sub: Redis | undefined;
  private primed = false;
  private priming = false;
  private starting: Promise<void> | undefined;
  private buffered: Wire[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private closed = false;

  constructor(options: RedisNodeRegistryOptions) {
    const prefix = checkPrefix(options.prefix);
    this.logger = options.logger ?? silentLogger;
    this.sweepMs = options.sweepMs ?? REGISTRY_SWEEP_MS;
    ({ client: this.redis, owned: this.owned } = openRedis(options, this.logger, "registry"));
    defineScripts(this.redis, SCRIPTS);
    this.keys = {
      nodes: `${prefix}:registry:nodes`,
      expiry: `${prefix}:registry:expiry`,
      version: `${prefix}:registry:version`,
      channel: `${prefix}:registry:events`,
    };
  }

  async announce(node: NodeInfo, ttlMs: number): Promise<void> {
    this.checkOpen();
    checkAnnounce(node, ttlMs);
    await runScript(this.redis, "sbRegistryAnnounce", this.scriptKeys(), [node.id, nodeContentKey(node), ttlMs, this.keys.channel]);
  }

  async withdraw(nodeId: string): Promise<void> {
    this.checkOpen();
    await runScript(this.redis, "sbRegistryWithdraw", this.scriptKeys(), [nodeId, this.keys.channel]);
  }

  /** After watch(), resolves only once the watch is live, so list-then-events misses nothing. */
  async list(): Promise<NodeInfo[]> {
    this.checkOpen();
    if (this.starting) await this.starting;
    const { nodes } = await this.snapshot();
    return sortById(nodes.map((n) => n.node));
  }

  watch(listener: (event: NodeEvent) => void): () => void {
    this.checkOpen();
    const wrapped = (event: NodeEvent) => listener(event);
    this.listeners.add(wrapped);
    if (!this.sub) this.startWatching();
    return () => {
      this.listeners.delete(wrapped);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.listeners.clear();
    if (this.sub) await quitQuietly(this.sub);
    if (this.owned) await quitQuietly(this.redis);
  }

  private startWatching(): void {
    const sub = this.redis.duplicate();
    this.sub = sub;
    logErrors(sub, this.logger, "registry-subscriber");
    sub.on("message", (_channel: string, text: string) => this.onMessage(text));
    this.timer = setInterval(() => void this.tick(), this.sweepMs);
    this.timer.unref();
    this.starting = this.prime();
  }

  /** Subscribe, then take the current registry as the view without telling anyone (they list()). */
  private async prime(): Promise<void> {
    if (this.priming) return;
    this.priming = true;
    try {
      await this.sub!.subscribe(this.keys.channel);
      const snap = await this.snapshot();
      for (const { ver, node } of snap.nodes) this.view.set(node.id, { node, key: nodeContentKey(node), ver });
      this.primed = true;
      const buffered = this.buffered;
      this.buffered = [];
      for (const wire of buffered) this.apply(wire);
    } catch (err) {
      if (!this.closed) this.logger.warn({ err }, "registry watch could not start; retrying on the next sweep");
    } finally {
      this.priming = false;
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      if (!this.primed) {
        // The first attempt failed (Redis was down): try again, and let list() wait for it.
        if (!this.priming) {
          this.starting = this.prime();
          await this.starting;
        }
        return;
      }
      this.reconcile(await this.snapshot());
    } catch (err) {
      if (!this.closed) this.logger.warn({ err }, "registry sweep failed");
    } finally {
      this.ticking = false;
    }
  }

  private scriptKeys(): string[] {
    return [this.keys.nodes, this.keys.expiry, this.keys.version];
  }

  private async snapshot(): Promise<Snapshot> {
    const reply = (await runScript(this.redis, "sbRegistrySweepList", this.scriptKeys(), [this.keys.channel])) as string[];
    const nodes: Snapshot["nodes"] = [];
    for (let i = 1; i + 1 < reply.length; i += 2) {
      const m = VALUE.exec(reply[i + 1]);
      try {
        if (!m) throw new Error("bad format");
        nodes.push({ ver: Number(m[1]), node: { ...(JSON.parse(m[3]) as NodeInfo), lastSeen: Number(m[2]) } });
      } catch (err) {
        this.logger.warn({ err, nodeId: reply[i] }, "unreadable node entry in the registry");
      }
    }
    return { ver: Number(reply[0]), nodes };
  }

  /** Sweep result vs view: whatever pub/sub lost becomes an event now. */
  private reconcile(snap: Snapshot): void {
    const present = new Set<string>();
    for (const { ver, node } of snap.nodes) {
      present.add(node.id);
      this.apply({ type: "update", ver, at: node.lastSeen, node });
    }
    for (const [id, seen] of this.view) {
      // A node announced after this snapshot was taken is not missing.
      if (!present.has(id) && seen.ver < snap.ver) this.apply({ type: "leave", ver: snap.ver, nodeId: id });
    }
    const old = Date.now() - REGISTRY_TOMBSTONE_MS;
    for (const [id, t] of this.tombstones) if (t.at < old) this.tombstones.delete(id);
  }

  private onMessage(text: string): void {
    let wire: Wire;
    try {
      wire = JSON.parse(text) as Wire;
      if (typeof wire.ver !== "number" || (wire.type === "leave" ? typeof wire.nodeId !== "string" : typeof wire.node?.id !== "string")) {
        throw new Error("unexpected event shape");
      }
    } catch (err) {
      this.logger.warn({ err }, "unreadable registry event");
      return;
    }
    if (!this.primed) this.buffered.push(wire);
    else this.apply(wire);
  }

  /** Apply one observation (from pub/sub or a sweep); emit only what changes the view. */
  private apply(wire: Wire): void {
    if (wire.type === "leave") {
      const t = this.tombstones.get(wire.nodeId);
      if (!t || t.ver < wire.ver) this.tombstones.set(wire.nodeId, { ver: wire.ver, at: Date.now() });
      const seen = this.view.get(wire.nodeId);
      // A re-announce after this leave (a newer version) keeps the node.
      if (seen && seen.ver < wire.ver) {
        this.view.delete(wire.nodeId);
        this.emit({ type: "leave", nodeId: wire.nodeId });
      }
      return;
    }
    const node: NodeInfo = { ...wire.node, lastSeen: wire.at };
    const left = this.tombstones.get(node.id);
    if (left && left.ver > wire.ver) return;
    const key = nodeContentKey(node);
    const seen = this.view.get(node.id);
    if (!seen) {
      this.view.set(node.id, { node, key, ver: wire.ver });
      this.emit({ type: "join", node: { ...node } });
    } else if (wire.ver > seen.ver) {
      this.view.set(node.id, { node, key, ver: wire.ver });
      if (seen.key !== key) this.emit({ type: "update", node: { ...node } });
    }
  }

  private emit(event: NodeEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ err, event: event.type }, "node registry listener threw");
      }
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new UnavailableError("node registry is closed");
  }
}
