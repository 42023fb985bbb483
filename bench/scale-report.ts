/** The "Shared state at scale" section of BENCHMARKS.md, from `npm run bench scale`'s results. */

// biome-ignore lint/suspicious/noExplicitAny: the result file is read field by field
type R = any;

export function scaleSection(s: R): string {
  if (!s) return "";
  const registry = (s.registry as R[])
    .map((r) => `| ${r.nodes} | ${r.commandsPerNodePerSec} | ${r.redisCpuUsPerNodePerSec} | ${r.eventsPerSec} |`)
    .join("\n");
  const p = s.presence;
  const groups = (s.largeGroups as R[]).map((g) => `| ${g.members} | ${g.frameBytes} | ${g.busBytesPerMessage} |`).join("\n");
  return `
## Shared state at scale (\`npm run bench scale\`)

On a real ${s.engine}, started by the bench on this machine; simulated gateways (registry, presence and bus
clients without sockets) in one process. Redis work is read from the masters (INFO, summed; commands as Redis
counts them, those a script runs included).

Registry, steady state (heartbeat every 2 s with a changing load, a watch per node):

| gateway nodes | Redis commands per node per s | Redis CPU per node per s (µs) | watch events delivered per s |
|---|---|---|---|
${registry}

Presence, ${p.users} users on ${p.nodes} nodes: ${p.loginsPerSec} logins/s and ${p.logoutsPerSec} logouts/s (one client
process, 500 in flight), ${p.lookupsPerSec} uids looked up per s (batches of 100); idle, each node running its periodic
check every 2.5 s (4× as often as gateways do): **${p.idleCommandsPerUserPerSec} Redis commands and ${p.idleRedisCpuUsPerUserPerSec} µs of Redis CPU per online user per
second**; ${p.memoryBytesPerUser} bytes of Redis memory per online user; a login (nextEpoch and bind) costs
${p.redisCommandsPerLogin} commands and ${p.redisCpuUsPerLogin} µs of Redis CPU, a uid looked up ${p.redisCpuUsPerLookedUpUid} µs.

Large groups: bytes one message puts on the bus with today's fan-out (one broadcast frame carrying every member,
to each of ${(s.largeGroups as R[])[0]?.nodes} nodes):

| members | frame bytes | bus bytes per message |
|---|---|---|
${groups}
`;
}
