import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { MemoryClusterHub } from "../cluster/memory-hub.js";
import { MemoryMessageBus } from "../cluster/message-bus-memory.js";
import { NatsMessageBus } from "../cluster/message-bus-nats.js";
import { RedisMessageBus } from "../cluster/message-bus-redis.js";
import type { MessageBus } from "../cluster/message-bus.js";
import { MemoryNodeRegistry } from "../cluster/node-registry-memory.js";
import { RedisNodeRegistry } from "../cluster/node-registry-redis.js";
import type { NodeRegistry } from "../cluster/node-registry.js";
import { MemoryPresence } from "../cluster/presence-memory.js";
import { RedisPresence } from "../cluster/presence-redis.js";
import type { Presence } from "../cluster/presence.js";
import { detectRedisTopology } from "../cluster/redis-common.js";
import type { ServeOptions } from "../config/options.js";
import { PostgresMessageStore } from "../store/message-store-postgres.js";
import { SqliteMessageStore } from "../store/message-store-sqlite.js";
import type { MessageStore } from "../store/message-store.js";
import { sqliteUnavailable } from "../store/sqlite-errors.js";
import { guardStore } from "../store/store-guard.js";
import { StoreHealth } from "../store/store-health.js";
import type { Logger } from "../util/logger.js";

export interface Backends {
  /** The message store behind its guard: bounded calls, store_unavailable when it cannot serve. */
  store: MessageStore;
  /** Whether the store can serve now (for /health and metrics). */
  storeHealth: StoreHealth;
  registry: NodeRegistry;
  presence: Presence;
  bus: MessageBus;
  /** Human-readable summary for the startup log. */
  describe: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The same interfaces, wired to memory and SQLite by default or to Redis, NATS and PostgreSQL by
 * option: one code path for a cluster of one and a cluster of many.
 */
export async function createBackends(options: ServeOptions, logger: Logger): Promise<Backends> {
  let backend: MessageStore;
  const storeName = options.postgresUrl ? "postgres" : "sqlite";
  if (options.postgresUrl) {
    backend = new PostgresMessageStore({
      url: options.postgresUrl,
      schema: options.clusterName,
      timeoutMs: options.storeTimeoutMs,
      logger: logger.child({ part: "store.postgres" }),
    });
  } else {
    mkdirSync(options.dataDir, { recursive: true });
    backend = new SqliteMessageStore({
      path: join(options.dataDir, "switchboard.db"),
      busyTimeoutMs: options.storeTimeoutMs,
      logger: logger.child({ part: "store.sqlite" }),
    });
  }
  // The probe goes through the guard so that its outcome is reported like any other call's.
  const storeHealth = new StoreHealth({
    backend: storeName,
    probe: () => store.ping(),
    logger: logger.child({ part: `store.${storeName}` }),
  });
  const store: MessageStore = guardStore(backend, {
    backend: storeName,
    timeoutMs: options.storeTimeoutMs,
    health: storeHealth,
    classify: sqliteUnavailable,
  });
  // One name keys everything a cluster shares, so several clusters can use the same servers.
  const prefix = options.clusterName;
  let registry: NodeRegistry;
  let presence: Presence;
  let bus: MessageBus;
  let redisKind = "memory";
  if (options.redisUrl) {
    // One URL of a plain Redis, or seeds of a Redis Cluster: the servers say which.
    const { cluster } = await detectRedisTopology(options.redisUrl);
    const redis = { url: options.redisUrl, cluster };
    redisKind = cluster ? "redis cluster" : "redis";
    registry = new RedisNodeRegistry({ ...redis, prefix, logger: logger.child({ part: "registry.redis" }) });
    presence = new RedisPresence({ ...redis, prefix, logger: logger.child({ part: "presence.redis" }) });
    bus = options.natsUrl
      ? new NatsMessageBus({ url: options.natsUrl, prefix, logger: logger.child({ part: "bus.nats" }) })
      : new RedisMessageBus({ ...redis, prefix, logger: logger.child({ part: "bus.redis" }) });
  } else {
    const hub = new MemoryClusterHub();
    registry = new MemoryNodeRegistry({ hub });
    presence = new MemoryPresence({ hub });
    bus = new MemoryMessageBus({ hub });
  }
  await store.migrate();
  storeHealth.start();
  return {
    store,
    storeHealth,
    registry,
    presence,
    bus,
    describe: {
      store: options.postgresUrl ? "postgres" : `sqlite ${join(options.dataDir, "switchboard.db")}`,
      registry: redisKind,
      presence: redisKind,
      bus: options.natsUrl ? "nats" : redisKind,
    },
    async close() {
      storeHealth.stop();
      await Promise.allSettled([bus.close(), registry.close(), presence.close()]);
      await backend.close();
    },
  };
}
