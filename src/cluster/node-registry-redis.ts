/**
 * NodeRegistry on Redis (plain or Cluster), linear in the number of nodes.
 *
 * Keys, all under one hash tag so every script touches one slot of a cluster:
 *   {<prefix>:registry}:nodes    hash   id -> "ver|identity json" (changes on join/update only)
 *   {<prefix>:registry}:load     hash   id -> "connections|lastSeen" (rewritten by each heartbeat)
 *   {<prefix>:registry}:expiry   zset   id -> lease end, ms on Redis' clock (the per-node lease)
 *   {<prefix>:registry}:version  string change counter
 *   {<prefix>:registry}:events   shard channel (SPUBLISH) of joins, leaves and identity updates
 *
 * A heartbeat is one O(log N) script and publishes nothing unless the node joins or its identity
 * changes. Every instance reaps expired leases every sweep (O(log N + expired): only the expired
 * end of the zset is read), so a dead node's leave is announced once, by whichever instance gets
 * there first, within a sweep of its TTL. Watchers hear events over sharded pub/sub and re-read the
 * whole registry only every resync (30 s) or after their subscriber reconnects, to repair what
 * at-most-once pub/sub lost. Scripts run on Redis' clock, so skewed hosts agree on who is alive.
 */
import { UnavailableError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import { REGISTRY_RESYNC_MS, REGISTRY_SWEEP_MS, checkAnnounce, loadOf, nodeContentKey, sortById } from "./node-registry-common.js";
import type { NodeEvent, NodeInfo, NodeLoad, NodeRegistry } from "./node-registry.js";
import {
  LUA_NOW,
  type RedisClient,
  type RedisConnectionOptions,
  checkPrefix,
  defineScripts,
  explainShardedPubSubError,
  logErrors,
  openRedis,
  openShardedSubscriber,
  quitQuietly,
  runScript,
} from "./redis-common.js";

/** How long a watcher remembers a leave, to ignore announces older than it that arrive late. */
export const REGISTRY_TOMBSTONE_MS = 60_000;
/** Most expired leases one reap removes (the rest go on the next one). */
const REAP_LIMIT = 256;

export interface RedisNodeRegistryOptions extends RedisConnectionOptions {
  /** Prefix of every key and channel, e.g. "switchboard". */
  prefix: string;
  /** How often expired leases are reaped (and a failed watch start retried). */
  sweepMs?: number;
  /** How often a watch re-reads the whole registry to repair lost events. */
  resyncMs?: number;
  logger?: Logger;
}

/**
 * KEYS: nodes, load, expiry, version, events channel (a key too: a cluster checks its slot).
 * Every change takes a number from the counter; watchers order what they hear by it, so a late
 * pub/sub message never undoes a newer change, even within one millisecond.
 */
const LUA_COMMON = `${LUA_NOW}
local function leave(id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[2], id)
  if redis.call('HDEL', KEYS[1], id) == 0 then return 0 end
  local ver = redis.call('INCR', KEYS[4])
  redis.call('SPUBLISH', KEYS[5], '{"type":"leave","ver":' .. int(ver) .. ',"nodeId":' .. cjson.encode(id) .. '}')
  return 1
end
local function reap(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', int(now), 'LIMIT', 0, ${REAP_LIMIT})
  for _, id in ipairs(expired) do leave(id) end
  return #expired
end
`;

const SCRIPTS = {
  /** ARGV: id, identity json, connections, ttl. Returns the event kind published, or ''. */
  sbRegistryAnnounce: {
    keys: 5,
    lua: `${LUA_COMMON}
local now = now_ms()
local id, json, conns, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local kind = 'join'
local old = redis.call('HGET', KEYS[1], id)
local exp = tonumber(redis.call('ZSCORE', KEYS[3], id))
if old and exp then
  if exp > now then
    if string.match(old, '^%d+|(.*)$') == json then kind = '' else kind = 'update' end
  else
    -- Expired but not reaped yet: watchers hear its leave (presence cleanup) before the new join.
    leave(id)
  end
end
if kind ~= '' then
  local ver = redis.call('INCR', KEYS[4])
  redis.call('HSET', KEYS[1], id, int(ver) .. '|' .. json)
  redis.call('SPUBLISH', KEYS[5], '{"type":"' .. kind .. '","ver":' .. int(ver) .. ',"at":' .. int(now) .. ',"connections":' .. conns .. ',"node":' .. json .. '}')
end
redis.call('HSET', KEYS[2], id, conns .. '|' .. int(now))
redis.call('ZADD', KEYS[3], int(now + ttl), id)
return kind`,
  },
  sbRegistryWithdraw: { keys: 5, lua: `${LUA_COMMON}\nreturn leave(ARGV[1])` },
  sbRegistryReap: { keys: 5, lua: `${LUA_COMMON}\nreturn reap(now_ms())` },
  /** Reap, then return [version, id, nodes value, load value, id, ...] of the live nodes. */
  sbRegistryList: {
    keys: 5,
    lua: `${LUA_COMMON}
local now = now_ms()
reap(now)
local out = { redis.call('GET', KEYS[4]) or '0' }
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. int(now), '+inf')) do
  local v = redis.call('HGET', KEYS[1], id)
  if v then
    out[#out + 1] = id
    out[#out + 1] = v
    out[#out + 1] = redis.call('HGET', KEYS[2], id) or '0|0'
  end
end
return out`,
  },
};

type Wire =
  | { type: "join" | "update"; ver: number; at: number; connections: number; node: NodeInfo }
  | { type: "leave"; ver: number; nodeId: string };

interface Seen {
  key: string;
  ver: number;
}

interface Snapshot {
  /** The change counter when the snapshot was taken. */
  ver: number;
  nodes: { ver: number; node: NodeInfo }[];
}

const NODE_VALUE = /^(\d+)\|(.*)$/s;
const LOAD_VALUE = /^(-?[\d.eE+-]+)\|(\d+)$/;

export class RedisNodeRegistry implements NodeRegistry {
  private readonly redis: RedisClient;
  private readonly owned: boolean;
  private readonly logger: Logger;
  private readonly sweepMs: number;
  private readonly resyncMs: number;
  private readonly keys: string[];
  private readonly loadKey: string;
  private readonly channel: string;
  private readonly listeners = new Set<(event: NodeEvent) => void>();
  /** What this instance's watchers have been told, to turn pub/sub and resyncs into exact events. */
  private readonly view = new Map<string, Seen>();
  /** Leaves heard (version, local time), so an older join arriving late is ignored. */
  private readonly tombstones = new Map<string, { ver: number; at: number }>();
  private sub: RedisClient | undefined;
  private primed = false;
  private priming: Promise<void> | undefined;
  private buffered: Wire[] = [];
  private timer: NodeJS.Timeout | undefined;
  private nextResyncAt = 0;
  private ticking = false;
  private closed = false;

  constructor(options: RedisNodeRegistryOptions) {
    const prefix = checkPrefix(options.prefix);
    this.logger = options.logger ?? silentLogger;
    this.sweepMs = options.sweepMs ?? REGISTRY_SWEEP_MS;
    this.resyncMs = options.resyncMs ?? REGISTRY_RESYNC_MS;
    ({ client: this.redis, owned: this.owned } = openRedis(options, this.logger, "registry"));
    defineScripts(this.redis, SCRIPTS);
    const tag = `{${prefix}:registry}`;
    this.loadKey = `${tag}:load`;
    this.channel = `${tag}:events`;
    this.keys = [`${tag}:nodes`, this.loadKey, `${tag}:expiry`, `${tag}:version`, this.channel];
  }

  async announce(node: NodeInfo, ttlMs: number): Promise<void> {
    this.checkOpen();
    checkAnnounce(node, ttlMs);
    this.startTimer();
    const args = [node.id, nodeContentKey(node), String(loadOf(node)), ttlMs];
    await runScript(this.redis, "sbRegistryAnnounce", this.keys, args).catch((err) => {
      throw explainShardedPubSubError(err);
    });
  }

  async withdraw(nodeId: string): Promise<void> {
    this.checkOpen();
    await runScript(this.redis, "sbRegistryWithdraw", this.keys, [nodeId]);
  }

  /** After watch(), resolves only once the watch is live, so list-then-events misses nothing. */
  async list(): Promise<NodeInfo[]> {
    this.checkOpen();
    if (this.priming) await this.priming;
    const { nodes } = await this.snapshot();
    return sortById(nodes.map((n) => n.node));
  }

  /** One HGETALL of short values: the cheap way to keep connection counts fresh. */
  async loads(): Promise<Map<string, NodeLoad>> {
    this.checkOpen();
    const out = new Map<string, NodeLoad>();
    for (const [id, value] of Object.entries(await this.redis.hgetall(this.loadKey))) {
      const load = parseLoad(value);
      if (load) out.set(id, load);
    }
    return out;
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
    const sub = openShardedSubscriber(this.redis, "registry-sub");
    this.sub = sub;
    logErrors(sub, this.logger, "registry-subscriber");
    sub.on("smessage", (_channel: string, text: string) => this.onMessage(text));
    // Back after a reconnect (plain Redis) or a failover (cluster): events may have been lost.
    const repair = () => {
      if (this.primed) this.nextResyncAt = 0;
    };
    sub.on("ready", repair);
    sub.on("subscribersReady", repair);
    this.startTimer();
    this.priming = this.prime();
  }

  /** One timer per instance: reap every sweep; resync (or start a failed watch) when due. */
  private startTimer(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.tick(), this.sweepMs);
    this.timer.unref();
  }

  /** Subscribe, then take the current registry as the view without telling anyone (they list()). */
  private async prime(): Promise<void> {
    try {
      await this.sub!.ssubscribe(this.channel);
      const snap = await this.snapshot();
      for (const { ver, node } of snap.nodes) this.view.set(node.id, { key: nodeContentKey(node), ver });
      this.primed = true;
      this.nextResyncAt = Date.now() + this.resyncMs;
      const buffered = this.buffered;
      this.buffered = [];
      for (const wire of buffered) this.apply(wire);
    } catch (err) {
      if (!this.closed)
        this.logger.warn({ err: explainShardedPubSubError(err) }, "registry watch could not start; retrying on the next sweep");
    } finally {
      this.priming = undefined;
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      if (this.sub && !this.primed) {
        // The first attempt failed (Redis was down): try again, and let list() wait for it.
        this.priming ??= this.prime();
        await this.priming;
      } else if (this.primed && Date.now() >= this.nextResyncAt) {
        // The list script reaps too. A failed resync is tried again on the next tick.
        this.reconcile(await this.snapshot());
        this.nextResyncAt = Date.now() + this.resyncMs;
      } else {
        await runScript(this.redis, "sbRegistryReap", this.keys, []);
      }
    } catch (err) {
      if (!this.closed) this.logger.warn({ err }, "registry sweep failed");
    } finally {
      this.ticking = false;
    }
  }

  private async snapshot(): Promise<Snapshot> {
    const reply = (await runScript(this.redis, "sbRegistryList", this.keys, [])) as string[];
    const nodes: Snapshot["nodes"] = [];
    for (let i = 1; i + 2 < reply.length; i += 3) {
      const m = NODE_VALUE.exec(reply[i + 1]);
      const load = parseLoad(reply[i + 2]) ?? { connections: 0, lastSeen: 0 };
      try {
        if (!m) throw new Error("bad format");
        nodes.push({ ver: Number(m[1]), node: { ...(JSON.parse(m[2]) as NodeInfo), ...load } });
      } catch (err) {
        this.logger.warn({ err, nodeId: reply[i] }, "unreadable node entry in the registry");
      }
    }
    return { ver: Number(reply[0]), nodes };
  }

  /** Resync result vs view: whatever pub/sub lost becomes an event now. */
  private reconcile(snap: Snapshot): void {
    const present = new Set<string>();
    for (const { ver, node } of snap.nodes) {
      present.add(node.id);
      this.apply({ type: "update", ver, at: node.lastSeen, connections: node.connections, node });
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

  /** Apply one observation (from pub/sub or a resync); emit only what changes the view. */
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
    const node: NodeInfo = { ...wire.node, connections: wire.connections, lastSeen: wire.at };
    const left = this.tombstones.get(node.id);
    if (left && left.ver > wire.ver) return;
    const key = nodeContentKey(node);
    const seen = this.view.get(node.id);
    if (!seen) {
      this.view.set(node.id, { key, ver: wire.ver });
      this.emit({ type: "join", node });
    } else if (wire.ver > seen.ver) {
      this.view.set(node.id, { key, ver: wire.ver });
      if (seen.key !== key) this.emit({ type: "update", node });
    }
  }

  private emit(event: NodeEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        // Each listener its own copy: one that mutates cannot change what the next one sees.
        listener(event.type === "leave" ? { ...event } : { ...event, node: copyNode(event.node) });
      } catch (err) {
        this.logger.error({ err, event: event.type }, "node registry listener threw");
      }
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new UnavailableError("node registry is closed");
  }
}

function parseLoad(value: string | undefined): NodeLoad | undefined {
  const m = value === undefined ? null : LOAD_VALUE.exec(value);
  return m ? { connections: Number(m[1]), lastSeen: Number(m[2]) } : undefined;
}

function copyNode(node: NodeInfo): NodeInfo {
  return { ...node, external: { ...node.external }, intranet: { ...node.intranet } };
}
