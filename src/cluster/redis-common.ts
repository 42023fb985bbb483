/** Connection and Lua-script plumbing shared by the Redis backends (plain Redis or Redis Cluster). */
import { type ChainableCommander, Cluster, Redis, type RedisOptions } from "ioredis";
import { ConfigError, InvalidArgumentError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";

/** A connection to a plain Redis or to a Redis Cluster: the backends use the commands both have. */
export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  /**
   * e.g. "redis://127.0.0.1:6379", or several comma-separated seed URLs of one Redis Cluster;
   * ignored when `client` is given.
   */
  url?: string;
  /** The URLs are seeds of a Redis Cluster (see detectRedisTopology). Default false. */
  cluster?: boolean;
  /** An existing connection to use (and not close); a subscriber is duplicated from it when needed. */
  client?: RedisClient;
  /** Extra ioredis options for connections made from `url`. */
  redisOptions?: RedisOptions;
}

export interface RedisHandle {
  client: RedisClient;
  /** Whether close() should end the connection (false for a client passed in). */
  owned: boolean;
}

/** The URLs of a `--redis` value: one, or several comma-separated seeds. */
export function redisSeeds(url: string): string[] {
  return url
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean);
}

export function openRedis(options: RedisConnectionOptions, logger: Logger, role: string): RedisHandle {
  if (options.client) return { client: options.client, owned: false };
  if (!options.url) throw new InvalidArgumentError(`${role}: a Redis url or client is required`);
  const seeds = redisSeeds(options.url);
  const client: RedisClient = options.cluster
    ? new Cluster(
        seeds.map((u) => {
          const parsed = new URL(u);
          return { host: parsed.hostname, port: Number(parsed.port) || 6379 };
        }),
        { redisOptions: options.redisOptions ?? {} },
      )
    : new Redis(seeds[0], options.redisOptions ?? {});
  logErrors(client, logger, role);
  return { client, owned: true };
}

/**
 * Whether the `--redis` seeds are one Redis Cluster or one plain Redis, asked of the servers
 * (`INFO cluster`: cluster_enabled). Seeds that disagree, or none answering, is a start failure.
 */
export async function detectRedisTopology(url: string, timeoutMs = 3_000): Promise<{ cluster: boolean }> {
  const seeds = redisSeeds(url);
  if (seeds.length === 0) throw new ConfigError("--redis names no URL");
  const answers = await Promise.all(
    seeds.map(async (seed) => {
      const probe = new Redis(seed, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on("error", () => {});
      try {
        await probe.connect();
        const info = String(await probe.info("cluster")) + String(await probe.info("server"));
        const version = /redis_version:(\d+)/.exec(info)?.[1];
        return { seed, cluster: /cluster_enabled:1/.test(info), version: version ? Number(version) : 0 };
      } catch (err) {
        return { seed, error: (err as Error).message };
      } finally {
        probe.disconnect();
      }
    }),
  );
  const reached = answers.filter((a) => a.error === undefined);
  if (reached.length === 0)
    throw new ConfigError(`no Redis seed answered (--redis): ${answers.map((a) => `${a.seed}: ${a.error}`).join("; ")}`);
  const kinds = new Set(reached.map((a) => a.cluster));
  if (kinds.size > 1) {
    const describe = reached.map((a) => `${a.seed} ${a.cluster ? "is" : "is not"} a cluster node`).join(", ");
    throw new ConfigError(`--redis mixes Redis Cluster nodes and plain Redis servers: ${describe}`);
  }
  // The bus uses sharded pub/sub (SPUBLISH/SSUBSCRIBE), new in Redis 7.
  const old = reached.find((a) => (a.version ?? 0) < 7);
  if (old)
    throw new ConfigError(`Redis 7 or newer is needed (sharded pub/sub); ${old.seed} runs Redis ${old.version || "of an unknown version"}`);
  if (!reached[0].cluster && seeds.length > 1)
    throw new ConfigError(
      `--redis names ${seeds.length} servers, but they are plain Redis: give one URL, or the seeds of one Redis Cluster`,
    );
  return { cluster: reached[0].cluster === true };
}

/** An ioredis client with no 'error' listener crashes the process on the first network error. */
export function logErrors(client: RedisClient, logger: Logger, role: string): void {
  client.on("error", (err: Error) => logger.warn({ err, role }, "redis connection error"));
}

/** How long close() waits for a graceful QUIT (or a last flush) before dropping the connection. */
export const REDIS_CLOSE_TIMEOUT_MS = 2_000;

/** Resolves when `promise` settles or after `ms`, whichever is first; never rejects. */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([promise.catch(() => {}), timeout]);
  clearTimeout(timer);
}

/** End a connection without throwing or hanging, even when it is down or reconnecting. */
export async function quitQuietly(client: RedisClient): Promise<void> {
  if (client.status === "end") return;
  if (client.status === "ready") await settleWithin(client.quit(), REDIS_CLOSE_TIMEOUT_MS);
  client.disconnect();
}

export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== "string" || prefix.length === 0) throw new InvalidArgumentError("prefix must be a non-empty string");
  return prefix;
}

/** Redis server time in ms, so every node measures expiry on one clock. */
export const LUA_NOW = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(n)
  return string.format('%d', n)
end
`;

export interface ScriptDef {
  keys: number;
  lua: string;
}

type ScriptFn = (...args: (string | number)[]) => unknown;

/**
 * Register scripts under names unique to this module (ioredis sends EVALSHA and falls back to
 * EVAL, also inside pipelines).
 */
export function defineScripts(client: RedisClient, scripts: Record<string, ScriptDef>): void {
  for (const [name, def] of Object.entries(scripts)) {
    client.defineCommand(name, { numberOfKeys: def.keys, lua: def.lua });
  }
}

export function runScript(client: RedisClient, name: string, keys: string[], args: (string | number)[]): Promise<unknown> {
  return (client as unknown as Record<string, ScriptFn>)[name](...keys, ...args) as Promise<unknown>;
}

export function queueScript(pipeline: ChainableCommander, name: string, keys: string[], args: (string | number)[]): void {
  (pipeline as unknown as Record<string, ScriptFn>)[name](...keys, ...args);
}

/** Results of pipeline.exec(): the first error is thrown. */
export function pipelineResults(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error("redis pipeline was discarded");
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

/**
 * A second connection for sharded pub/sub (SSUBSCRIBE; Redis >= 7). On a Redis Cluster, ioredis
 * keeps one subscriber per shard and re-subscribes after failovers only when the Cluster is made
 * with `shardedSubscribers`, so the duplicate gets it; a plain Redis re-subscribes by itself
 * (autoResubscribe). Messages arrive as 'smessage' / 'smessageBuffer' on both.
 */
export function openShardedSubscriber(client: RedisClient, connectionName: string): RedisClient {
  if (client.isCluster) {
    const cluster = client as Cluster;
    return cluster.duplicate([], {
      shardedSubscribers: true,
      redisOptions: { ...(cluster.options.redisOptions ?? {}), connectionName },
    });
  }
  return (client as Redis).duplicate({ connectionName });
}

/**
 * Sharded pub/sub is Redis >= 7: an older server's "unknown command" (from SSUBSCRIBE, or from a
 * script calling SPUBLISH; the scripts' other commands are all older) is reworded to say so.
 */
export function explainShardedPubSubError(err: unknown): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (!/unknown command '?s(publish|subscribe)|unknown redis command called from script/i.test(message)) return err;
  return new ConfigError(`sharded pub/sub (SPUBLISH/SSUBSCRIBE) needs Redis >= 7: ${message}`, { cause: err });
}
