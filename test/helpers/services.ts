/**
 * Real services for integration tests. URLs come from the environment with this machine's
 * defaults. Where a service is down, tests skip with a printed reason — except in CI (CI=true),
 * where a missing service fails the run.
 */
import net from "node:net";

export const serviceUrls = {
  redis: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  postgres: process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
  nats: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
} as const;

export type ServiceName = keyof typeof serviceUrls;

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port) || ({ "redis:": 6379, "postgres:": 5432, "nats:": 4222 } as Record<string, number>)[u.protocol] || 0;
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Resolves to `false` when the service is up (so it can be passed as node:test's `skip`), or to
 * a reason string to skip with. In CI a missing service throws instead.
 */
export async function skipUnless(service: ServiceName): Promise<false | string> {
  const url = serviceUrls[service];
  if (await reachable(url)) return false;
  const reason = `${service} not reachable at ${url}`;
  if (process.env.CI === "true") throw new Error(`${reason} (required in CI)`);
  console.log(`# skipping: ${reason}`);
  return reason;
}

/** A short unique name for isolating a test's keys, schemas and subjects. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/** A port free on 127.0.0.1 right now (the OS picks it; a server started next binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Whether something accepts connections on 127.0.0.1:`port` now. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
