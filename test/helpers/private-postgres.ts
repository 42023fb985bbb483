/**
 * A private PostgreSQL cluster for tests that stop and start the server: its own data folder in a
 * temp dir, a free loopback port, trust auth for user postgres, unix socket in the temp dir.
 * Run as root, the server commands run as the postgres user (PostgreSQL refuses root).
 */
import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./services.js";

const run = promisify(execFile);

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** The temp folder: data in `data`, the server log in `log`, the unix socket. */
  dir: string;
  /** Stops the server ("fast" by default: disconnects clients cleanly; "immediate": no shutdown work). */
  stop(mode?: "immediate" | "fast"): Promise<void>;
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it if running (immediately) and removes the folder. */
  destroy(): Promise<void>;
}

/** The newest installed PostgreSQL's bin folder, if any. */
function binDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  return versions.length > 0 ? join(root, versions[0], "bin") : undefined;
}

/** `false` when a private cluster can be started here, else the reason (for node:test's `skip`). */
export function privatePostgresUnavailable(): false | string {
  if (!binDir()) return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin";
  if (process.platform !== "linux") return "private PostgreSQL clusters are set up for Linux only";
  return false;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir();
  if (!bin) throw new Error("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin");
  const asRoot = process.getuid?.() === 0;
  // PostgreSQL will not run as root: as root, run its commands as the postgres user.
  const pgCommand = (tool: string, args: string[]) =>
    asRoot
      ? run("runuser", ["-u", "postgres", "--", join(bin, tool), ...args], { timeout: 60_000 })
      : run(join(bin, tool), args, { timeout: 60_000 });

  const dir = mkdtempSync(join(tmpdir(), "switchboard-pg-"));
  if (asRoot) {
    const uid = Number((await run("id", ["-u", "postgres"])).stdout.trim());
    const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, "data");
  const port = await freePort();
  // A start that timed out may have left a server behind: the pid file says.
  const mayRun = () => existsSync(join(data, "postmaster.pid"));
  const start = async () => {
    await pgCommand("pg_ctl", [
      "-D",
      data,
      "-l",
      join(dir, "log"),
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
      "-w",
      "-t",
      "30",
      "start",
    ]);
  };
  const stop = async (mode: "immediate" | "fast" = "fast") => {
    await pgCommand("pg_ctl", ["-D", data, "-m", mode, "-w", "-t", "30", "stop"]);
  };
  const destroy = async () => {
    if (mayRun()) await stop("immediate").catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await pgCommand("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
    await start();
  } catch (err) {
    await destroy();
    throw err;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stop,
    start,
    destroy,
  };
}
