/** Connection and Lua-script plumbing shared by the Redis backends. */
import { type ChainableCommander, Redis, type RedisOptions } from "ioredis";
import { InvalidArgumentError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";

export interface RedisConnectionOptions {
  /** e.g. "redis://127.0.0.1:6379"; ignored when `client` is given. */
  url?: string;
  /** An existing connection to use (and not close); a subscriber is duplicated from it when needed. */
  client?: Redis;
  /** Extra ioredis options for connections made from `url`. */
  redisOptions?: RedisOptions;
}

export interface RedisHandle {
  client: Redis;
  /** Whether close() should end the connection (false for a client passed in). */
  owned: boolean;
}

export function openRedis(options: RedisConnectionOptions, logger: Logger, role: string): RedisHandle {
  if (options.client) return { client: options.client, owned: false };
  if (!options.url) throw new InvalidArgumentError(`${role}: a Redis url or client is required`);
  const client = new Redis(options.url, options.redisOptions ?? {});
  logErrors(client, logger, role);
  return { client, owned: true };
}

/** An ioredis client with no 'error' listener crashes the process on the first network error. */
export function logErrors(client: Redis, logger: Logger, role: string): void {
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
export async function quitQuietly(client: Redis): Promise<void> {
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
export function defineScripts(client: Redis, scripts: Record<string, ScriptDef>): void {
  for (const [name, def] of Object.entries(scripts)) {
    client.defineCommand(name, { numberOfKeys: def.keys, lua: def.lua });
  }
}

export function runScript(client: Redis, name: string, keys: string[], args: (string | number)[]): Promise<unknown> {
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
