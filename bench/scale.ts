/**
 * `npm run bench scale`: the shared state's unit costs on a real 6-process Redis Cluster (3 masters
 * + 3 replicas, started here), with simulated gateways — the registry, presence and bus clients of
 * many nodes, without sockets, packed into this process. Redis work is read from the servers
 * (INFO commandstats/cpu/memory summed over the masters), so it counts what Redis did, not what a
 * client thinks it sent. What it reports:
 * - registry: commands and Redis CPU per node per second in steady state, for growing node counts
 *   (linear means a flat per-node figure);
 * - presence: login and logout rates, Redis commands and CPU per idle online user per second
 *   (each node runs its periodic check), memory per online user;
 * - large groups: bus bytes per message against member count, as the fan-out frames them today.
 */
import { deliverMessage, encodeClusterMessage } from "../src/cluster/cluster-protocol.js";
import { RedisNodeRegistry } from "../src/cluster/node-registry-redis.js";
import type { NodeInfo } from "../src/cluster/node-registry.js";
import { RedisPresence } from "../src/cluster/presence-redis.js";
import type { PresenceBinding } from "../src/cluster/presence.js";
import { type RedisClusterHandle, startRedisCluster } from "../test/helpers/redis-cluster.js";

const HEARTBEAT_MS = 2_000;
const NODE_TTL_MS = 6_000;
const PRESENCE_CHECK_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stderr.write(`  ${line}\n`);

interface RedisTotals {
  commands: number;
  cpuSeconds: number;
  memory: number;
}

/** Commands processed, CPU seconds and memory, summed over the cluster's masters. */
async function redisTotals(cluster: RedisClusterHandle): Promise<RedisTotals> {
  const { Redis } = await import("ioredis");
  const out: RedisTotals = { commands: 0, cpuSeconds: 0, memory: 0 };
  for (const port of await cluster.masters()) {
    const r = new Redis({ port, host: "127.0.0.1", lazyConnect: true });
    await r.connect();
    const info = String(await r.info());
    r.disconnect();
    const num = (key: string) => Number(new RegExp(`^${key}:([\\d.]+)`, "m").exec(info)?.[1] ?? 0);
    out.commands += num("total_commands_processed");
    out.cpuSeconds += num("used_cpu_user") + num("used_cpu_sys");
    out.memory += num("used_memory");
  }
  return out;
}

/** What Redis did per second between two readings (minus the INFO calls themselves). */
function rates(a: RedisTotals, b: RedisTotals, seconds: number, masters: number) {
  return {
    commandsPerSec: (b.commands - a.commands - masters) / seconds,
    cpuMsPerSec: ((b.cpuSeconds - a.cpuSeconds) * 1000) / seconds,
  };
}

function nodeInfo(id: string, startedAt: number): NodeInfo {
  const addr = { tcpAddr: `10.0.0.1:${id}`, wsAddr: `ws://10.0.0.1/${id}`, wssAddr: `wss://10.0.0.1/${id}` };
  return { id, external: addr, intranet: addr, apiUrl: `http://10.0.0.1/${id}`, connections: 0, startedAt, lastSeen: 0 };
}

async function registryStep(cluster: RedisClusterHandle, nodes: number, measureMs: number) {
  const prefix = `scale-reg-${nodes}-${Date.now().toString(36)}`;
  const registries = Array.from({ length: nodes }, () => new RedisNodeRegistry({ url: cluster.url, cluster: true, prefix }));
  const unwatch: (() => void)[] = [];
  let events = 0;
  const startedAt = Date.now();
  try {
    for (const [i, r] of registries.entries()) {
      unwatch.push(r.watch(() => events++));
      await r.announce(nodeInfo(`gw-${i}`, startedAt), NODE_TTL_MS);
    }
    // Heartbeats with a changing load, as gateways send them.
    const timers = registries.map((r, i) =>
      setInterval(() => {
        const info = { ...nodeInfo(`gw-${i}`, startedAt), connections: Math.floor(Math.random() * 25_000) };
        r.announce(info, NODE_TTL_MS).catch(() => {});
      }, HEARTBEAT_MS),
    );
    await sleep(HEARTBEAT_MS * 2);
    const eventsBefore = events;
    const a = await redisTotals(cluster);
    await sleep(measureMs);
    const b = await redisTotals(cluster);
    for (const t of timers) clearInterval(t);
    const r = rates(a, b, measureMs / 1000, (await cluster.masters()).length);
    const eventsPerSec = ((events - eventsBefore) * 1000) / measureMs;
    const step = {
      nodes,
      commandsPerSec: Math.round(r.commandsPerSec),
      commandsPerNodePerSec: +(r.commandsPerSec / nodes).toFixed(2),
      redisCpuMsPerSec: +r.cpuMsPerSec.toFixed(1),
      redisCpuUsPerNodePerSec: +((r.cpuMsPerSec * 1000) / nodes).toFixed(1),
      eventsPerSec: +eventsPerSec.toFixed(1),
    };
    log(
      `registry ${nodes} nodes: ${step.commandsPerNodePerSec} commands/node/s, ${step.redisCpuUsPerNodePerSec} µs Redis CPU/node/s, ${step.eventsPerSec} events/s delivered`,
    );
    return step;
  } finally {
    for (const u of unwatch) u();
    await Promise.all(registries.map((r) => r.close()));
  }
}

async function presenceStep(cluster: RedisClusterHandle, users: number, nodes: number, measureMs: number) {
  const prefix = `scale-pres-${Date.now().toString(36)}`;
  const presence = new RedisPresence({ url: cluster.url, cluster: true, prefix });
  const startedAt = Date.now();
  const byNode: PresenceBinding[][] = Array.from({ length: nodes }, () => []);
  try {
    const before = await redisTotals(cluster);
    // Logins: nextEpoch then bind, as a CONNECT does, many in flight at once.
    const t0 = performance.now();
    const inFlight = 500;
    for (let start = 0; start < users; start += inFlight) {
      await Promise.all(
        Array.from({ length: Math.min(inFlight, users - start) }, async (_, k) => {
          const i = start + k;
          const uid = `u${i}`;
          const nodeId = `gw-${i % nodes}`;
          const epoch = await presence.nextEpoch(uid);
          const binding = { uid, nodeId, deviceFlag: 1, connId: `${nodeId}-${i}`, epoch, incarnation: startedAt };
          await presence.bind(binding, 30_000);
          byNode[i % nodes].push(binding);
        }),
      );
    }
    const loginSecs = (performance.now() - t0) / 1000;
    const bound = await redisTotals(cluster);
    // Idle from here: every node runs its periodic check, nothing else happens.
    const a = bound;
    const checks = setInterval(() => {
      for (const [n, list] of byNode.entries()) presence.refresh(`gw-${n}`, list, 30_000).catch(() => {});
    }, PRESENCE_CHECK_MS / 4);
    await sleep(measureMs);
    clearInterval(checks);
    const b = await redisTotals(cluster);
    const masters = (await cluster.masters()).length;
    const idle = rates(a, b, measureMs / 1000, masters);
    // Lookups as a fan-out asks them: batches of 100.
    const looked = Math.min(users, 50_000);
    const l0 = await redisTotals(cluster);
    const t1 = performance.now();
    for (let i = 0; i < looked; i += 100) await presence.lookup(Array.from({ length: 100 }, (_, k) => `u${i + k}`));
    const lookupsPerSec = looked / ((performance.now() - t1) / 1000);
    const l1 = await redisTotals(cluster);
    // Logouts.
    const t2 = performance.now();
    for (const list of byNode) {
      for (let s = 0; s < list.length; s += 500)
        await Promise.all(list.slice(s, s + 500).map((b) => presence.unbind(b.uid, b.deviceFlag, b.epoch)));
    }
    const logoutSecs = (performance.now() - t2) / 1000;
    const step = {
      users,
      nodes,
      loginsPerSec: Math.round(users / loginSecs),
      logoutsPerSec: Math.round(users / logoutSecs),
      lookupsPerSec: Math.round(lookupsPerSec),
      idleCommandsPerUserPerSec: +(idle.commandsPerSec / users).toExponential(2),
      idleRedisCpuUsPerUserPerSec: +((idle.cpuMsPerSec * 1000) / users).toExponential(2),
      memoryBytesPerUser: Math.round((bound.memory - before.memory) / users),
      redisCpuUsPerLogin: +(((bound.cpuSeconds - before.cpuSeconds) * 1e6) / users).toFixed(1),
      redisCommandsPerLogin: +((bound.commands - before.commands) / users).toFixed(2),
      redisCpuUsPerLookedUpUid: +(((l1.cpuSeconds - l0.cpuSeconds) * 1e6) / looked).toFixed(2),
    };
    log(
      `presence ${users} users on ${nodes} nodes: ${step.loginsPerSec} logins/s, ${step.logoutsPerSec} logouts/s, ${step.lookupsPerSec} lookups/s, idle ${step.idleCommandsPerUserPerSec} commands/user/s, ${step.memoryBytesPerUser} B/user, ${step.redisCpuUsPerLogin} µs Redis CPU and ${step.redisCommandsPerLogin} commands per login, ${step.redisCpuUsPerLookedUpUid} µs per uid looked up`,
    );
    return step;
  } finally {
    await presence.close();
  }
}

/** Bytes one large-group message puts on the bus today: one broadcast frame carrying every member, to each node. */
function largeGroupStep(members: number, nodes: number) {
  const uids = Array.from({ length: members }, (_, i) => `member-${i}`);
  const message = {
    messageId: 1,
    messageSeq: 1,
    clientMsgNo: "c",
    fromUid: "member-0",
    channelId: "big-group",
    channelType: 2,
    header: { noPersist: false, redDot: true, syncOnce: false },
    setting: 0,
    expire: 0,
    topic: "",
    timestamp: 1,
    payload: new Uint8Array(100),
  };
  const frame = encodeClusterMessage(deliverMessage(message, uids, { all: true, skipNodes: ["gw-0"] }));
  const step = { members, nodes, frameBytes: frame.byteLength, busBytesPerMessage: frame.byteLength * nodes };
  log(
    `large group ${members} members: ${frame.byteLength} B per frame, ${step.busBytesPerMessage} B on the bus per message (${nodes} nodes)`,
  );
  return step;
}

export async function scale(small: boolean) {
  const cluster = await startRedisCluster();
  try {
    const nodeCounts = small ? [10, 40] : [50, 100, 200, 400];
    const registry = [];
    for (const n of nodeCounts) registry.push(await registryStep(cluster, n, small ? 4_000 : 10_000));
    const presence = await presenceStep(cluster, small ? 10_000 : 200_000, small ? 10 : 100, small ? 5_000 : PRESENCE_CHECK_MS * 2);
    const largeGroups = [100, 1_000, 10_000, 100_000].map((m) => largeGroupStep(m, 480));
    return { engine: "redis cluster, 3 masters + 3 replicas (redis-server 7)", registry, presence, largeGroups };
  } finally {
    await cluster.stop();
  }
}
