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
import type { ServeOptions } from "../config/options.js";
import { PostgresMessageStore } from "../store/message-store-postgres.js";
import { SqliteMessageStore } from "../store/message-store-sqlite.js";
import type { MessageStore } from "../store/message-store.js";
import type { Logger } from "../util/logger.js";

export interface Backends {
  store: MessageStore;
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
  let store: MessageStore;
  if (options.postgresUrl) {
    store = new PostgresMessageStore({
      url: options.postgresUrl,
      schema: options.clusterName,
      logger: logger.child({ part: "store.postgres" }),
    });
  } else {
    mkdirSync(options.dataDir, { recursive: true });
    store = new SqliteMessageStore({ path: join(options.dataDir, "switchboard.db"), logger: logger.child({ part: "store.sqlite" }) });
  }
  // One name keys everything a cluster shares, so several clusters can use the same servers.
  const prefix = options.clusterName;
  let registry: NodeRegistry;
  let presence: Presence;
  let bus: MessageBus;
  if (options.redisUrl) {
    registry = new RedisNodeRegistry({ url: options.redisUrl, prefix, logger: logger.child({ part: "registry.redis" }) });
    presence = new RedisPresence({ url: options.redisUrl, prefix, logger: logger.child({ part: "presence.redis" }) });
    bus = options.natsUrl
      ? new NatsMessageBus({ url: options.natsUrl, prefix, logger: logger.child({ part: "bus.nats" }) })
      : new RedisMessageBus({ url: options.redisUrl, prefix, logger: logger.child({ part: "bus.redis" }) });
  } else {
    const hub = new MemoryClusterHub();
    registry = new MemoryNodeRegistry({ hub });
    presence = new MemoryPresence({ hub });
    bus = new MemoryMessageBus({ hub });
  }
  await store.migrate();
  return {
    store,
    registry,
    presence,
    bus,
    describe: {
      store: options.postgresUrl ? "postgres" : `sqlite ${join(options.dataDir, "switchboard.db")}`,
      registry: options.redisUrl ? "redis" : "memory",
      presence: options.redisUrl ? "redis" : "memory",
      bus: options.natsUrl ? "nats" : options.redisUrl ? "redis" : "memory",
    },
    async close() {
      await Promise.allSettled([bus.close(), registry.close(), presence.close()]);
      await store.close();
    },
  };
}
