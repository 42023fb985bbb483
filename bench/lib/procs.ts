/** Processes for the benchmark: servers under test, forked load workers, and their RSS/CPU from /proc. */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { readFileSync } from "node:fs";

const root = new URL("../..", import.meta.url).pathname;

export function rssKb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : 0;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Start a process and wait until it prints `readyText` (stdout or stderr). */
export function startProcess(cmd: string, args: string[], readyText: string, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(" ")} did not start:\n${log}`)), 30_000);
    const onData = (d: Buffer) => {
      log += d;
      if (log.includes(readyText)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}:\n${log}`)));
  });
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

export interface Worker {
  child: ChildProcess;
  ask<T>(msg: unknown): Promise<T>;
  stop(): Promise<void>;
}

/** Fork a load worker and wait for its connections. */
export async function startWorker(setup: unknown): Promise<Worker> {
  // The setup (thousands of uids) goes over IPC: one argv string may be at most 128 KiB.
  const child = fork(`${root}bench/load-worker.ts`, [], {
    // BENCH_WORKER_PROF=dir profiles the load generators too (is the client or the server the bound?).
    execArgv: [
      "--import",
      "tsx",
      ...(process.env.BENCH_WORKER_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_WORKER_PROF] : []),
    ],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      child.once("message", (m: { error?: string }) => (m?.error ? reject(new Error(m.error)) : resolve(m as T)));
      child.once("exit", (code) => reject(new Error(`load worker exited ${code}`)));
    });
  child.setMaxListeners(1000);
  const ready = next<{ ready: boolean }>();
  child.send({ cmd: "setup", setup } as never);
  await ready;
  return {
    child,
    ask: <T>(msg: unknown) => {
      const answer = next<T>();
      child.send(msg as never);
      return answer;
    },
    stop: async () => {
      child.send({ cmd: "exit" });
      await new Promise((r) => child.once("exit", r));
    },
  };
}
