#!/usr/bin/env node
// `npm run cluster`: a local 3-process cluster on this machine's Redis, PostgreSQL and (if up) NATS.
// Process i runs node-i with its router API on 5001+i-1 and TCP/WS/WSS on 5100/5200/5300 + i-1.
// Usage: node scripts/cluster.mjs [processes]   env: REDIS_URL, POSTGRES_URL, NATS_URL (NATS_URL=off: bus on Redis)
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";

const root = new URL("..", import.meta.url).pathname;
const count = Number(process.argv[2] ?? 3);
const redis = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const postgres = process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const natsEnv = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

function reachable(url) {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port) });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

if (!Number.isInteger(count) || count < 1 || count > 16) {
  console.error("usage: node scripts/cluster.mjs [processes 1-16]");
  process.exit(2);
}
const cli = `${root}dist/src/cli/main.js`;
if (!existsSync(cli)) {
  console.error("dist/ is missing: run `npm install` (it builds) or `npm run build` first");
  process.exit(2);
}
for (const [name, url] of [
  ["Redis", redis],
  ["PostgreSQL", postgres],
]) {
  if (!(await reachable(url))) {
    console.error(`${name} is not reachable at ${url}: the cluster needs it (set ${name === "Redis" ? "REDIS_URL" : "POSTGRES_URL"})`);
    process.exit(1);
  }
}
const nats = natsEnv !== "off" && (await reachable(natsEnv)) ? natsEnv : undefined;
console.error(`starting ${count} processes: registry+presence on ${redis}, bus on ${nats ?? redis}, store on ${postgres}`);

// One API key for the whole cluster, kept across runs.
const keyFile = `${root}data/cluster-api-key`;
mkdirSync(`${root}data`, { recursive: true });
if (!existsSync(keyFile)) writeFileSync(keyFile, `${randomBytes(24).toString("base64url")}\n`, { mode: 0o600 });
const apiKey = process.env.SWITCHBOARD_API_KEY ?? readFileSync(keyFile, "utf8").trim();
console.error(`API key (header \`token: KEY\`): ${apiKey}`);

const children = [];
for (let i = 0; i < count; i++) {
  const args = [cli, "serve", "--nodes", "1", "--node-id", `node-${i + 1}`, "--cluster-name", "local"];
  args.push("--redis", redis, "--postgres", postgres, "--data-dir", `${root}data/node-${i + 1}`, "--api-key", apiKey);
  if (nats) args.push("--nats", nats);
  args.push("--api-port", String(5001 + i), "--tcp-port", String(5100 + i), "--ws-port", String(5200 + i), "--wss-port", String(5300 + i));
  // Own process group: a terminal's Ctrl-C reaches only this script, which stops each child once
  // (a second signal would make a child skip its clean shutdown).
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
    env: { ...process.env, SWITCHBOARD_LOG_LEVEL: "warn" },
  });
  const tag = `[node-${i + 1}] `;
  for (const stream of [child.stdout, child.stderr]) {
    let rest = "";
    stream.on("data", (chunk) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) process.stderr.write(tag + line + "\n");
    });
  }
  child.on("exit", (code, signal) => {
    process.stderr.write(`${tag}exited (${signal ?? code})\n`);
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(0);
  });
  children.push(child);
}
const stop = () => {
  for (const c of children) c.kill("SIGTERM");
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});
