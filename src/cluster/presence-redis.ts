/**
 * Presence on Redis, one hash per user: `${prefix}:presence:{uid}` holds the user's epoch
 * counter (field "e") and one field per device, "epoch|incarnation|[nodeId,connId]". Every write
 * is a Lua script on that one key (one slot: runs unchanged on Redis Cluster), so the epoch check
 * and the write are one atomic step (fencing). Bindings carry no TTL: one is live while its node
 * run is (NodeLiveness, from the node registry), so an idle online user costs Redis nothing.
 *
 * Per node a set `${prefix}:node-users:{nodeId}` of uids bound there, written with plain SADD/SREM
 * after the scripts (never inside: it is another slot). It serves removeNode, onlineUids and the
 * loss check of refresh; it is a hint, checked against the user hashes wherever it matters. A small
 * set `${prefix}:presence:nodes` names the nodes that have one (off the hot path: once per node
 * and refresh period).
 */
import { UnavailableError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
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
  coalesceLookups,
  isLive,
} from "./presence-common.js";
import type { BindResult, NodeLiveness, Presence, PresenceBinding } from "./presence.js";
import {
  type RedisClient,
  type RedisConnectionOptions,
  checkPrefix,
  defineScripts,
  openRedis,
  pipelineResults,
  quitQuietly,
  runScript,
} from "./redis-common.js";

/** A user hash left with only its epoch counter (no device bound) expires after this. */
export const PRESENCE_EPOCH_KEEP_MS = 600_000;
/** A binding younger than this may belong to a login still in flight: refresh's clean-up spares it. */
export const PRESENCE_IN_FLIGHT_MS = 60_000;
/** Commands per pipeline, to bound one reply's size. */
export const PRESENCE_PIPELINE_CHUNK = 1_000;
/**
 * refresh rewrites a node's bindings when its user set is gone, or off by more than this plus one
 * per thousand held: logins and logouts in flight while it counts make small gaps normal.
 */
export const PRESENCE_DRIFT_TOLERANCE = 4;

export interface RedisPresenceOptions extends RedisConnectionOptions {
  /** Prefix of every key, e.g. "switchboard". */
  prefix: string;
  logger?: Logger;
  /** Whether a node run is alive (see Presence.setNodeLiveness); every node when omitted. */
  isNodeAlive?: NodeLiveness;
}

const LUA_COMMON = `
local function epoch_of(v)
  return tonumber(string.match(v, '^(%d+)|'))
end
local function node_of(v)
  local tail = string.match(v, '^%d+|%d+|(.*)$')
  if not tail then return nil end
  local ok, t = pcall(cjson.decode, tail)
  if ok and type(t) == 'table' and type(t[1]) == 'string' then return t[1] end
  return nil
end
-- Whether any device of the user is still bound on node, and whether any device is bound at all.
local function holds(key, node)
  local all = redis.call('HGETALL', key)
  local on, any = false, false
  for i = 1, #all, 2 do
    if all[i] ~= 'e' then
      any = true
      if node_of(all[i + 1]) == node then on = true end
    end
  end
  return on, any
end
-- Never let the counter fall behind an epoch in use (a binding written back after a wipe).
local function lift(key, epoch)
  local e = tonumber(redis.call('HGET', key, 'e') or '0')
  if e < epoch then redis.call('HSET', key, 'e', string.format('%d', epoch)) end
end
-- Nothing bound any more: keep the counter a while, then let the key go.
local function settle(key, node, keepMs)
  local on, any = holds(key, node)
  if not any then redis.call('PEXPIRE', key, keepMs) end
  if on then return 0 end
  return 1
end
`;

const SCRIPTS = {
  /**
   * ARGV keepMs -> epoch. Max(counter + 1, server time in µs): strictly increasing per uid, and
   * still above every earlier epoch once the key has expired or Redis lost it.
   */
  sbPresenceEpoch: {
    keys: 1,
    lua: `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local e = tonumber(redis.call('HGET', KEYS[1], 'e') or '0') + 1
if now > e then e = now end
redis.call('HSET', KEYS[1], 'e', string.format('%d', e))
if redis.call('HLEN', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return e`,
  },
  /**
   * ARGV device epoch value node dead -> {accepted, previous value or '', previous node left 0|1}.
   * A newer epoch holding the device refuses the bind, unless its value is \`dead\` (the caller
   * found its node dead and retries). The previous value goes back so the caller can report it
   * and fix the old node's set.
   */
  sbPresenceBind: {
    keys: 1,
    lua: `${LUA_COMMON}
local device, epoch, value, node, dead = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local cur = redis.call('HGET', KEYS[1], device)
if cur and cur ~= dead then
  local e = epoch_of(cur)
  if e and e > epoch then return { 0, cur, 0 } end
end
redis.call('HSET', KEYS[1], device, value)
lift(KEYS[1], epoch)
redis.call('PERSIST', KEYS[1])
local left = 0
if cur then
  local old = node_of(cur)
  if old and old ~= node and not holds(KEYS[1], old) then left = 1 end
end
return { 1, cur or '', left }`,
  },
  /** ARGV device epoch value node -> 1 when the binding is (now) there: written back only into a gap. */
  sbPresenceRestore: {
    keys: 1,
    lua: `${LUA_COMMON}
local device, epoch, value, node = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local cur = redis.call('HGET', KEYS[1], device)
if cur then
  if epoch_of(cur) == epoch and node_of(cur) == node then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], device, value)
lift(KEYS[1], epoch)
redis.call('PERSIST', KEYS[1])
return 1`,
  },
  /** ARGV device epoch keepMs -> {removed 0|1, node, node left 0|1} */
  sbPresenceUnbind: {
    keys: 1,
    lua: `${LUA_COMMON}
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or epoch_of(cur) ~= tonumber(ARGV[2]) then return { 0, '', 0 } end
redis.call('HDEL', KEYS[1], ARGV[1])
local node = node_of(cur) or ''
return { 1, node, settle(KEYS[1], node, ARGV[3]) }`,
  },
  /**
   * ARGV node keepMs minAgeMs|'': drop the user's devices bound on node (only those whose epoch,
   * server time in µs, is older than minAgeMs) -> 1 when none is left there.
   */
  sbPresenceDropNode: {
    keys: 1,
    lua: `${LUA_COMMON}
local cutoff = nil
if ARGV[3] ~= '' then
  local t = redis.call('TIME')
  cutoff = tonumber(t[1]) * 1000000 + tonumber(t[2]) - tonumber(ARGV[3]) * 1000
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local v = all[i + 1]
  if all[i] ~= 'e' and node_of(v) == ARGV[1] and (not cutoff or (epoch_of(v) or 0) < cutoff) then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return settle(KEYS[1], ARGV[1], ARGV[2])`,
  },
};

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;
/** One single-key command: name (a Redis command or a script above) and its arguments. */
type Call = [name: string, key: string, ...args: (string | number)[]];

export class RedisPresence implements Presence {
  private readonly redis: RedisClient;
  private readonly owned: boolean;
  private readonly logger: Logger;
  private readonly prefix: string;
  private readonly nodesKey: string;
  private isNodeAlive: NodeLiveness;
  /** Nodes this instance has put into nodesKey (again after removeNode). */
  private readonly listedNodes = new Set<string>();
  private closed = false;
  /** Lookups made in the same tick (every message of a committed batch asks) share one batch. */
  private readonly coalesced = coalesceLookups((uids) => this.lookupNow(uids));

  constructor(options: RedisPresenceOptions) {
    this.prefix = checkPrefix(options.prefix);
    this.logger = options.logger ?? silentLogger;
    this.isNodeAlive = options.isNodeAlive ?? EVERY_NODE_ALIVE;
    ({ client: this.redis, owned: this.owned } = openRedis(options, this.logger, "presence"));
    defineScripts(this.redis, SCRIPTS);
    this.nodesKey = `${this.prefix}:presence:nodes`;
  }

  setNodeLiveness(isNodeAlive: NodeLiveness): void {
    this.isNodeAlive = isNodeAlive;
  }

  async nextEpoch(uid: string): Promise<number> {
    this.checkOpen();
    checkUid(uid);
    return Number(await runScript(this.redis, "sbPresenceEpoch", [this.userKey(uid)], [PRESENCE_EPOCH_KEEP_MS]));
  }

  async bind(binding: PresenceBinding, ttlMs: number): Promise<BindResult> {
    this.checkOpen();
    checkBinding(binding);
    checkTtl(ttlMs);
    const { uid, deviceFlag, epoch, nodeId } = binding;
    const value = this.encode(binding);
    // Into the node's set at once, beside the script (one round trip): a refused login leaves the
    // uid there, which only makes the set a superset (it is checked wherever it matters).
    const listed = Promise.all([this.redis.sadd(this.nodeUsersKey(nodeId), uid), this.listNode(nodeId)]);
    let dead = "";
    try {
      // A newer binding of a dead node does not fence: retry once it is known dead (rarely twice).
      for (let attempt = 0; attempt < 3; attempt++) {
        const [ok, cur, left] = (await runScript(
          this.redis,
          "sbPresenceBind",
          [this.userKey(uid)],
          [deviceFlag, epoch, value, nodeId, dead],
        )) as [number, string, number];
        const previous = cur ? this.parse(uid, deviceFlag, cur) : undefined;
        if (ok !== 1) {
          if (previous && !isLive(previous, this.isNodeAlive)) {
            dead = cur;
            continue;
          }
          return { accepted: false };
        }
        if (previous && left === 1) await this.redis.srem(this.nodeUsersKey(previous.nodeId), uid);
        const displaced = previous && previous.epoch < epoch && isLive(previous, this.isNodeAlive) ? previous : undefined;
        return displaced ? { accepted: true, displaced } : { accepted: true };
      }
      return { accepted: false };
    } finally {
      await listed;
    }
  }

  async unbind(uid: string, deviceFlag: number, epoch: number): Promise<void> {
    this.checkOpen();
    checkUid(uid);
    checkDevice(deviceFlag);
    checkEpoch(epoch);
    const [removed, node, left] = (await runScript(
      this.redis,
      "sbPresenceUnbind",
      [this.userKey(uid)],
      [deviceFlag, epoch, PRESENCE_EPOCH_KEEP_MS],
    )) as [number, string, number];
    if (removed === 1 && node && left === 1) await this.redis.srem(this.nodeUsersKey(node), uid);
  }

  /**
   * O(1) in steady state: the size of the node's user set against the node's own count. A set
   * gone (Redis lost it, or removeNode ran for a node wrongly declared dead) or far off means
   * lost bindings: write them all back (only into gaps) and make the set match again.
   */
  async refresh(nodeId: string, bindings: PresenceBinding[], ttlMs: number): Promise<void> {
    this.checkOpen();
    checkTtl(ttlMs);
    for (const b of bindings) checkBinding(b);
    const own = bindings.filter((b) => b.nodeId === nodeId);
    const uids = new Set(own.map((b) => b.uid));
    const setKey = this.nodeUsersKey(nodeId);
    const [count] = await Promise.all([this.redis.scard(setKey), this.redis.sadd(this.nodesKey, nodeId)]);
    this.listedNodes.add(nodeId);
    const tolerance = PRESENCE_DRIFT_TOLERANCE + Math.floor(uids.size / 1000);
    if (uids.size === count || (count > 0 && Math.abs(count - uids.size) <= tolerance)) return;
    this.logger.info({ nodeId, stored: count, held: uids.size }, "presence of this node is off: writing it back");
    const results = await this.batch(
      own.map((b): Call => ["sbPresenceRestore", this.userKey(b.uid), b.deviceFlag, b.epoch, this.encode(b), nodeId]),
    );
    const restored = [...new Set(own.filter((_, i) => results[i] === 1).map((b) => b.uid))];
    for (let i = 0; i < restored.length; i += PRESENCE_PIPELINE_CHUNK) {
      await this.redis.sadd(setKey, ...restored.slice(i, i + PRESENCE_PIPELINE_CHUNK));
    }
    if (count > uids.size) {
      // A superset: refused logins, missed SREMs, or what an earlier run of this node id left
      // (crashed and back before the registry noticed). This node is the authority on bindings
      // naming it: drop those it does not hold, sparing logins still in flight (young epochs).
      const extra = (await this.redis.smembers(setKey)).filter((uid) => !uids.has(uid));
      const gone = await this.batch(
        extra.map((uid): Call => ["sbPresenceDropNode", this.userKey(uid), nodeId, PRESENCE_EPOCH_KEEP_MS, PRESENCE_IN_FLIGHT_MS]),
      );
      const drop = extra.filter((_, i) => gone[i] === 1);
      for (let i = 0; i < drop.length; i += PRESENCE_PIPELINE_CHUNK) {
        await this.redis.srem(setKey, ...drop.slice(i, i + PRESENCE_PIPELINE_CHUNK));
      }
    }
  }

  async lookup(uids: string[]): Promise<Map<string, PresenceBinding[]>> {
    this.checkOpen();
    return this.coalesced(checkLookup(uids));
  }

  /** One HGETALL per uid; bindings of dead node runs are left out (removeNode deletes them). */
  private async lookupNow(unique: string[]): Promise<Map<string, PresenceBinding[]>> {
    const out = new Map<string, PresenceBinding[]>();
    const hashes = await this.batch(
      unique.map((uid): Call => ["hgetall", this.userKey(uid)]),
      true,
    );
    unique.forEach((uid, i) => {
      const live: PresenceBinding[] = [];
      for (const [field, value] of Object.entries(hashes[i] as Record<string, string>)) {
        if (field === "e") continue;
        const b = this.parse(uid, Number(field), value);
        if (b && isLive(b, this.isNodeAlive)) live.push(b);
      }
      if (live.length > 0) out.set(uid, live.sort(byDevice));
    });
    return out;
  }

  /** Once per node death (not per period): one script per user the node's set names. */
  async removeNode(nodeId: string): Promise<void> {
    this.checkOpen();
    const setKey = this.nodeUsersKey(nodeId);
    const members = await this.redis.smembers(setKey);
    await this.batch(members.map((uid): Call => ["sbPresenceDropNode", this.userKey(uid), nodeId, PRESENCE_EPOCH_KEEP_MS, ""]));
    await Promise.all([this.redis.del(setKey), this.redis.srem(this.nodesKey, nodeId)]);
    this.listedNodes.delete(nodeId);
  }

  /** Candidates from the nodes' sets, each confirmed by its user hash (the sets are hints). */
  async onlineUids(limit: number): Promise<string[]> {
    this.checkOpen();
    if (checkLimit(limit) === 0) return [];
    const out = new Set<string>();
    for (const nodeId of await this.redis.smembers(this.nodesKey)) {
      // Every binding in a dead node's set is dead: not worth reading.
      if (!this.isNodeAlive(nodeId, 0)) continue;
      let cursor = "0";
      do {
        const [next, uids] = await this.redis.sscan(this.nodeUsersKey(nodeId), cursor, "COUNT", PRESENCE_PIPELINE_CHUNK);
        cursor = next;
        const fresh = [...new Set(uids)].filter((uid) => !out.has(uid));
        if (fresh.length === 0) continue;
        const live = await this.lookupNow(fresh);
        for (const uid of fresh) {
          if (live.has(uid)) out.add(uid);
          if (out.size >= limit) return [...out];
        }
      } while (cursor !== "0");
    }
    return [...out];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) await quitQuietly(this.redis);
  }

  /** Hash-tagged on the uid, so whatever else a user ever needs lands in the same slot. */
  private userKey(uid: string): string {
    return `${this.prefix}:presence:{${uid}}`;
  }

  private nodeUsersKey(nodeId: string): string {
    return `${this.prefix}:node-users:{${nodeId}}`;
  }

  private async listNode(nodeId: string): Promise<void> {
    if (this.listedNodes.has(nodeId)) return;
    await this.redis.sadd(this.nodesKey, nodeId);
    this.listedNodes.add(nodeId);
  }

  /**
   * Single-key commands in bulk. Plain Redis: pipelines of PRESENCE_PIPELINE_CHUNK (one after the
   * other, or all at once for reads). Redis Cluster: an ioredis pipeline must stay on one node,
   * so each command is sent on its own and routed by its key (the client still writes them
   * back to back without waiting for replies).
   */
  private async batch(calls: Call[], concurrent = false): Promise<unknown[]> {
    if (calls.length === 0) return [];
    if (this.redis.isCluster) {
      const client = this.redis as unknown as Record<string, ScriptFn>;
      return Promise.all(calls.map(([name, ...args]) => client[name](...args)));
    }
    const chunks: Call[][] = [];
    for (let i = 0; i < calls.length; i += PRESENCE_PIPELINE_CHUNK) chunks.push(calls.slice(i, i + PRESENCE_PIPELINE_CHUNK));
    const run = async (chunk: Call[]) => {
      const pipeline = this.redis.pipeline();
      for (const [name, ...args] of chunk) (pipeline as unknown as Record<string, ScriptFn>)[name](...args);
      return pipelineResults(await pipeline.exec());
    };
    if (concurrent) return (await Promise.all(chunks.map(run))).flat();
    const out: unknown[] = [];
    for (const chunk of chunks) out.push(...(await run(chunk)));
    return out;
  }

  private encode(b: PresenceBinding): string {
    return `${b.epoch}|${b.incarnation ?? 0}|${JSON.stringify([b.nodeId, b.connId])}`;
  }

  private parse(uid: string, deviceFlag: number, value: string): PresenceBinding | undefined {
    const m = /^(\d+)\|(\d+)\|(.*)$/s.exec(value);
    try {
      if (!m) throw new Error("bad format");
      const [nodeId, connId] = JSON.parse(m[3]) as [string, string];
      const incarnation = Number(m[2]);
      const b: PresenceBinding = { uid, nodeId, deviceFlag, connId, epoch: Number(m[1]) };
      if (incarnation > 0) b.incarnation = incarnation;
      return b;
    } catch (err) {
      this.logger.warn({ err, uid, deviceFlag }, "unreadable presence entry");
      return undefined;
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new UnavailableError("presence is closed");
  }
}
