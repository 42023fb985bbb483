/**
 * Presence on Redis. Per uid a hash deviceFlag -> "epoch|expiresAt|[nodeId,connId]"; per node a
 * set of "deviceFlag:uid" (for removeNode); one sorted set uid -> latest expiry (for onlineUids);
 * one INCR counter for epochs. Every write is a Lua script on Redis' clock, so the epoch check and
 * the write are one atomic step (fencing) and expiry means the same on every node. Expired entries
 * are filtered on read and pruned when the uid is next written; key TTLs are only a safety net.
 */
import type { Redis } from "ioredis";
import { UnavailableError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import { byDevice, checkBinding, checkDevice, checkEpoch, checkLimit, checkLookup, checkTtl, checkUid } from "./presence-common.js";
import type { BindResult, Presence, PresenceBinding } from "./presence.js";
import {
  LUA_NOW,
  type RedisConnectionOptions,
  checkPrefix,
  defineScripts,
  openRedis,
  pipelineResults,
  queueScript,
  quitQuietly,
  runScript,
} from "./redis-common.js";

/** Keys outlive their last binding by this much, in case a prune never comes. */
export const PRESENCE_KEY_GRACE_MS = 60_000;
/** Commands per pipeline in refresh/removeNode, to bound one reply's size. */
export const PRESENCE_PIPELINE_CHUNK = 1_000;

export interface RedisPresenceOptions extends RedisConnectionOptions {
  /** Prefix of every key, e.g. "switchboard". */
  prefix: string;
  logger?: Logger;
}

const LUA_COMMON = `${LUA_NOW}
local GRACE = ${PRESENCE_KEY_GRACE_MS}
local function parse(v)
  local e, x, tail = string.match(v, '^(%d+)|(%d+)|(.*)$')
  return tonumber(e), tonumber(x), tail
end
local function node_of(tail)
  local ok, t = pcall(cjson.decode, tail)
  if ok and type(t) == 'table' and type(t[1]) == 'string' then return t[1] end
  return nil
end
local function node_key(prefix, node)
  return prefix .. ':presence:node:' .. node
end
local function touch_node(prefix, node, member, ttl)
  local key = node_key(prefix, node)
  redis.call('SADD', key, member)
  if redis.call('PTTL', key) < ttl + GRACE then redis.call('PEXPIRE', key, int(ttl + GRACE)) end
end
-- Prune expired devices of a uid, then set its online score and key TTL from what is left.
local function settle(ukey, okey, prefix, uid, now)
  local all = redis.call('HGETALL', ukey)
  local max = 0
  for i = 1, #all, 2 do
    local _, x, tail = parse(all[i + 1])
    if not x or x <= now then
      redis.call('HDEL', ukey, all[i])
      local node = tail and node_of(tail)
      if node then redis.call('SREM', node_key(prefix, node), all[i] .. ':' .. uid) end
    elseif x > max then
      max = x
    end
  end
  if max > now then
    redis.call('ZADD', okey, int(max), uid)
    redis.call('PEXPIREAT', ukey, int(max + GRACE))
  else
    redis.call('ZREM', okey, uid)
    redis.call('DEL', ukey)
  end
end
`;

const SCRIPTS = {
  /** ARGV prefix uid device epoch ttl tail node -> {accepted 0|1, displaced value or ''} */
  sbPresenceBind: {
    keys: 2,
    lua: `${LUA_COMMON}
local now = now_ms()
local prefix, uid, device, epoch, ttl, tail, node = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
local member = device .. ':' .. uid
local cur = redis.call('HGET', KEYS[1], device)
local displaced = ''
if cur then
  local e, x, oldTail = parse(cur)
  if e and x and x > now then
    if e > epoch then return { 0, '' } end
    if e < epoch then displaced = cur end
  end
  local oldNode = oldTail and node_of(oldTail)
  if oldNode and oldNode ~= node then redis.call('SREM', node_key(prefix, oldNode), member) end
end
redis.call('HSET', KEYS[1], device, int(epoch) .. '|' .. int(now + ttl) .. '|' .. tail)
touch_node(prefix, node, member, ttl)
settle(KEYS[1], KEYS[2], prefix, uid, now)
return { 1, displaced }`,
  },
  /** ARGV prefix uid device epoch -> 1 when removed */
  sbPresenceUnbind: {
    keys: 2,
    lua: `${LUA_COMMON}
local prefix, uid, device, epoch = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local cur = redis.call('HGET', KEYS[1], device)
if not cur then return 0 end
local e, _, tail = parse(cur)
if e ~= epoch then return 0 end
redis.call('HDEL', KEYS[1], device)
local node = tail and node_of(tail)
if node then redis.call('SREM', node_key(prefix, node), device .. ':' .. uid) end
settle(KEYS[1], KEYS[2], prefix, uid, now_ms())
return 1`,
  },
  /** ARGV prefix uid device epoch ttl node tail -> 1 when extended or restored (still this node's login) */
  sbPresenceRefresh: {
    keys: 3,
    lua: `${LUA_COMMON}
local prefix, uid, device, epoch, ttl, node, ownTail = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
local cur = redis.call('HGET', KEYS[1], device)
local tail = ownTail
if cur then
  local e, _, curTail = parse(cur)
  if e ~= epoch or not curTail or node_of(curTail) ~= node then return 0 end
  tail = curTail
elseif ownTail == '' then
  return 0
else
  -- Redis lost the binding (restart without persistence, flush): the live session writes it
  -- back, and the epoch counter is lifted past it so a later login still wins.
  local counter = tonumber(redis.call('GET', KEYS[3]) or '0')
  if counter < epoch then redis.call('SET', KEYS[3], int(epoch)) end
end
local now = now_ms()
redis.call('HSET', KEYS[1], device, int(epoch) .. '|' .. int(now + ttl) .. '|' .. tail)
touch_node(prefix, node, device .. ':' .. uid, ttl)
settle(KEYS[1], KEYS[2], prefix, uid, now)
return 1`,
  },
  /** ARGV prefix uid device node: remove the device's binding if it is on that node */
  sbPresenceRemoveIfNode: {
    keys: 2,
    lua: `${LUA_COMMON}
local prefix, uid, device, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local cur = redis.call('HGET', KEYS[1], device)
if cur then
  local _, _, tail = parse(cur)
  if not tail or node_of(tail) == node then redis.call('HDEL', KEYS[1], device) end
end
settle(KEYS[1], KEYS[2], prefix, uid, now_ms())
return 1`,
  },
  /** ARGV limit -> uids with a live binding */
  sbPresenceOnline: {
    keys: 1,
    lua: `${LUA_NOW}
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now))
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. int(now), '+inf', 'LIMIT', 0, tonumber(ARGV[1]))`,
  },
};

const VALUE = /^(\d+)\|(\d+)\|(.*)$/s;

export class RedisPresence implements Presence {
  private readonly redis: Redis;
  private readonly owned: boolean;
  private readonly logger: Logger;
  private readonly prefix: string;
  private readonly epochKey: string;
  private readonly onlineKey: string;
  private closed = false;

  constructor(options: RedisPresenceOptions) {
    this.prefix = checkPrefix(options.prefix);
    this.logger = options.logger ?? silentLogger;
    ({ client: this.redis, owned: this.owned } = openRedis(options, this.logger, "presence"));
    defineScripts(this.redis, SCRIPTS);
    this.epochKey = `${this.prefix}:presence:epoch`;
    this.onlineKey = `${this.prefix}:presence:online`;
  }

  private pendingLookups: {
    uids: string[];
    resolve: (found: Map<string, PresenceBinding[]>) => void;
    reject: (err: Error) => void;
  }[] = [];

  async nextEpoch(uid: string): Promise<number> {
    this.checkOpen();
    checkUid(uid);
    // One counter for every uid: strictly increasing per uid, and no per-user key to expire.
    return this.redis.incr(this.epochKey);
  }

  async bind(binding: PresenceBinding, ttlMs: number): Promise<BindResult> {
    this.checkOpen();
    checkBinding(binding);
    checkTtl(ttlMs);
    const { uid, deviceFlag, epoch, nodeId, connId } = binding;
    const reply = (await runScript(
      this.redis,
      "sbPresenceBind",
      [this.uidKey(uid), this.onlineKey],
      [this.prefix, uid, deviceFlag, epoch, ttlMs, JSON.stringify([nodeId, connId]), nodeId],
    )) as [number, string];
    if (reply[0] !== 1) return { accepted: false };
    const displaced = reply[1] ? this.parse(uid, deviceFlag, reply[1]) : undefined;
    return displaced ? { accepted: true, displaced: displaced.binding } : { accepted: true };
  }

  async unbind(uid: string, deviceFlag: number, epoch: number): Promise<void> {
    this.checkOpen();
    checkUid(uid);
    checkDevice(deviceFlag);
    checkEpoch(epoch);
    await runScript(this.redis, "sbPresenceUnbind", [this.uidKey(uid), this.onlineKey], [this.prefix, uid, deviceFlag, epoch]);
  }

  async refresh(nodeId: string, bindings: PresenceBinding[], ttlMs: number): Promise<void> {
    this.checkOpen();
    checkTtl(ttlMs);
    for (const b of bindings) checkBinding(b);
    for (let i = 0; i < bindings.length; i += PRESENCE_PIPELINE_CHUNK) {
      const pipeline = this.redis.pipeline();
      for (const b of bindings.slice(i, i + PRESENCE_PIPELINE_CHUNK)) {
        queueScript(
          pipeline,
          "sbPresenceRefresh",
          [this.uidKey(b.uid), this.onlineKey, this.epochKey],
          [this.prefix, b.uid, b.deviceFlag, b.epoch, ttlMs, nodeId, b.nodeId === nodeId ? JSON.stringify([nodeId, b.connId]) : ""],
        );
      }
      pipelineResults(await pipeline.exec());
    }
  }

  /** One round trip: the server time and every uid's hash in one pipeline. */
  async lookup(uids: string[]): Promise<Map<string, PresenceBinding[]>> {
    this.checkOpen();
    const unique = [...new Set(checkLookup(uids))];
    if (unique.length === 0) return new Map();
    // Lookups made in the same tick (every message of a committed batch asks) share one pipeline:
    // one round trip and one TIME instead of one each.
    return new Promise((resolve, reject) => {
      this.pendingLookups.push({ uids: unique, resolve, reject });
      if (this.pendingLookups.length === 1) setImmediate(() => void this.flushLookups());
    });
  }

  private async flushLookups(): Promise<void> {
    const batch = this.pendingLookups;
    this.pendingLookups = [];
    try {
      const found = await this.lookupNow(batch.length === 1 ? batch[0].uids : [...new Set(batch.flatMap((b) => b.uids))]);
      for (const b of batch) {
        if (batch.length === 1) {
          b.resolve(found);
          continue;
        }
        const mine = new Map<string, PresenceBinding[]>();
        for (const uid of b.uids) {
          const live = found.get(uid);
          if (live) mine.set(uid, live);
        }
        b.resolve(mine);
      }
    } catch (err) {
      for (const b of batch) b.reject(err as Error);
    }
  }

  private async lookupNow(unique: string[]): Promise<Map<string, PresenceBinding[]>> {
    const out = new Map<string, PresenceBinding[]>();
    const pipeline = this.redis.pipeline();
    pipeline.time();
    for (const uid of unique) pipeline.hgetall(this.uidKey(uid));
    const results = pipelineResults(await pipeline.exec());
    const [secs, micros] = results[0] as [string, string];
    const now = Number(secs) * 1000 + Math.floor(Number(micros) / 1000);
    unique.forEach((uid, i) => {
      const hash = results[i + 1] as Record<string, string>;
      const live: PresenceBinding[] = [];
      for (const [field, value] of Object.entries(hash)) {
        const parsed = this.parse(uid, Number(field), value);
        if (parsed && parsed.expiresAt > now) live.push(parsed.binding);
      }
      if (live.length > 0) out.set(uid, live.sort(byDevice));
    });
    return out;
  }

  async removeNode(nodeId: string): Promise<void> {
    this.checkOpen();
    const nodeKey = `${this.prefix}:presence:node:${nodeId}`;
    const members = await this.redis.smembers(nodeKey);
    for (let i = 0; i < members.length; i += PRESENCE_PIPELINE_CHUNK) {
      const pipeline = this.redis.pipeline();
      for (const member of members.slice(i, i + PRESENCE_PIPELINE_CHUNK)) {
        const colon = member.indexOf(":");
        const device = member.slice(0, colon);
        const uid = member.slice(colon + 1);
        queueScript(pipeline, "sbPresenceRemoveIfNode", [this.uidKey(uid), this.onlineKey], [this.prefix, uid, device, nodeId]);
      }
      pipelineResults(await pipeline.exec());
    }
    await this.redis.del(nodeKey);
  }

  async onlineUids(limit: number): Promise<string[]> {
    this.checkOpen();
    if (checkLimit(limit) === 0) return [];
    return (await runScript(this.redis, "sbPresenceOnline", [this.onlineKey], [limit])) as string[];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) await quitQuietly(this.redis);
  }

  private uidKey(uid: string): string {
    return `${this.prefix}:presence:u:${uid}`;
  }

  private parse(uid: string, deviceFlag: number, value: string): { binding: PresenceBinding; expiresAt: number } | undefined {
    const m = VALUE.exec(value);
    try {
      if (!m) throw new Error("bad format");
      const [nodeId, connId] = JSON.parse(m[3]) as [string, string];
      return { binding: { uid, nodeId, deviceFlag, connId, epoch: Number(m[1]) }, expiresAt: Number(m[2]) };
    } catch (err) {
      this.logger.warn({ err, uid, deviceFlag }, "unreadable presence entry");
      return undefined;
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new UnavailableError("presence is closed");
  }
}
