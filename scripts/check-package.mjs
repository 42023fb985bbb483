#!/usr/bin/env node
// Checks the package as an embedder gets it: `npm pack`s it, installs the tarball into an empty ESM
// project, type-checks a TypeScript file against its entries, imports `switchboard`,
// `switchboard/client` and `switchboard/client/node` from there, starts an embedded Switchboard
// from the installed package (loopback only, ports 0) and chats through it with the installed SDK.
// Prints one line per check; exits 1 if any fails. Needs a built dist: `npm run build` (`npm ci`
// runs it through `prepare`). Usage: node scripts/check-package.mjs
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const started = Date.now();
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
let failures = 0;

function report(ok, what, detail) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}${detail ? ` (${detail})` : ""}`);
  if (!ok) failures++;
  return ok;
}

/** Runs a command; resolves with its exit code, its output and its stdout alone. Killed (by its own pid) after timeoutMs. */
function run(cmd, args, { cwd, timeoutMs = 60_000, inherit = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: inherit ? ["ignore", "inherit", "inherit"] : ["ignore", "pipe", "pipe"] });
    let out = "";
    let stdout = "";
    child.stdout?.on("data", (d) => {
      out += d;
      stdout += d;
    });
    child.stderr?.on("data", (d) => {
      out += d;
    });
    const timer = setTimeout(() => {
      out += `\n(killed after ${timeoutMs / 1000} s)`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: 1, out: `${out}${err.message}`, stdout });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out, stdout });
    });
  });
}

/** What a failed command said, indented under its line; nothing when it succeeded. */
const why = (r) =>
  r.code === 0
    ? undefined
    : `exit ${r.code}\n${r.out
        .trim()
        .split("\n")
        .map((l) => `     ${l}`)
        .join("\n")}`;

// Every file the exports map, main, types and bin name must be in the tarball.
const exportTargets = Object.values(pkg.exports).flatMap((t) => (typeof t === "string" ? [t] : Object.values(t)));
const entryFiles = [...new Set([pkg.main, pkg.types, ...Object.values(pkg.bin), ...exportTargets])].map((p) => p.replace(/^\.\//, ""));

const tmp = mkdtempSync(join(tmpdir(), "switchboard-package-"));
const packDir = join(tmp, "pack");
const app = join(tmp, "app");
const cleanup = () => rmSync(tmp, { recursive: true, force: true });
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, () => {
    cleanup();
    process.exit(1);
  });

async function main() {
  const missing = entryFiles.filter((f) => f !== "package.json" && !existsSync(join(root, f)));
  if (
    !report(
      missing.length === 0,
      "built entry files exist",
      missing.length ? `missing ${missing.join(", ")}: run npm run build` : undefined,
    )
  )
    return;

  // 1. Pack as `npm publish` would (dist is built already, so the prepare build is skipped).
  mkdirSync(packDir);
  const packed = await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", packDir], { cwd: root });
  if (!report(packed.code === 0, "npm pack", why(packed))) return;
  const [info] = JSON.parse(packed.stdout);
  const files = new Set(info.files.map((f) => f.path));
  const notPacked = entryFiles.filter((f) => !files.has(f));
  report(
    notPacked.length === 0,
    `tarball ${info.filename} has main, types, bin and every exports target`,
    notPacked.length ? `missing ${notPacked.join(", ")}` : `${info.entryCount} files, ${Math.round(info.size / 1024)} kB`,
  );
  const stray = [...files].filter((f) => !/^(dist\/src\/|web\/|package\.json$|README\.md$|LICENSE)/.test(f));
  report(stray.length === 0, "tarball holds only dist/src, web, package.json, README", stray.slice(0, 5).join(", ") || undefined);

  // 2. Install it into an empty ESM project, as an embedder would (dependencies from the registry).
  // better-sqlite3 compiles its addon at install (no prebuilt binary can be downloaded here), which
  // takes over a minute on two cores: when this checkout has built that addon, the same version is
  // installed without install scripts and the addon is copied in instead of compiled again.
  mkdirSync(app);
  const sqliteDir = join(root, "node_modules", "better-sqlite3");
  const sqliteAddon = join(sqliteDir, "build", "Release", "better_sqlite3.node");
  const sqliteVersion = existsSync(sqliteAddon) ? JSON.parse(readFileSync(join(sqliteDir, "package.json"), "utf8")).version : undefined;
  const appPkg = { name: "switchboard-package-check", private: true, type: "module" };
  if (sqliteVersion) appPkg.overrides = { "better-sqlite3": sqliteVersion };
  else appPkg.allowScripts = { "better-sqlite3": true };
  writeFileSync(join(app, "package.json"), `${JSON.stringify(appPkg, null, 2)}\n`);
  const tarball = join(packDir, info.filename);
  const installArgs = ["install", tarball, "ws", "--no-audit", "--no-fund", "--prefer-offline", "--no-package-lock"];
  const installed = await run("npm", sqliteVersion ? [...installArgs, "--ignore-scripts"] : installArgs, { cwd: app, timeoutMs: 600_000 });
  if (!report(installed.code === 0, "npm install <tarball> into an empty project", why(installed))) return;
  if (sqliteVersion) {
    const target = join(app, "node_modules", "better-sqlite3", "build", "Release");
    mkdirSync(target, { recursive: true });
    copyFileSync(sqliteAddon, join(target, "better_sqlite3.node"));
  }

  // 3. Types: a TypeScript consumer compiles against the entries' declarations.
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  writeFileSync(join(app, "tsconfig.json"), JSON.stringify(consumerTsconfig()));
  writeFileSync(join(app, "consumer.ts"), CONSUMER_TS);
  const typed = await run(process.execPath, [tsc, "-p", join(app, "tsconfig.json")], { cwd: app });
  report(typed.code === 0, "a TypeScript consumer type-checks against the entries", why(typed));

  // 4. Runtime: the entries' exports, an embedded Switchboard, a chat through it with the SDK.
  writeFileSync(join(app, "consumer.mjs"), CONSUMER_JS);
  const ran = await run(process.execPath, ["consumer.mjs"], { cwd: app, inherit: true });
  if (ran.code !== 0) report(false, "consumer.mjs ran to the end", why(ran));

  // 5. Browsers: with the "browser" condition (bundlers for the web) `switchboard/client` is the
  // self-contained bundle, which imports no node: module.
  writeFileSync(join(app, "browser.mjs"), BROWSER_JS);
  const browser = await run(process.execPath, ["--conditions=browser", "browser.mjs"], { cwd: app, inherit: true });
  if (browser.code !== 0) report(false, "browser.mjs ran to the end", why(browser));
}

function consumerTsconfig() {
  return {
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      lib: ["ES2022", "DOM"],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ["node"],
      typeRoots: [join(root, "node_modules", "@types")],
    },
    files: ["consumer.ts"],
  };
}

const CONSUMER_TS = `import {
  ConfigError,
  type Logger,
  type MessageBus,
  type MessageStore,
  type NodeRegistry,
  type Presence,
  type ServeOptions,
  type Switchboard,
  SwitchboardError,
  createLogger,
  resolveOptions,
  startSwitchboard,
} from "switchboard";
import * as browserSafe from "switchboard/client";
import { type ClientOptions, SwitchboardClient } from "switchboard/client";
import { tcpTransport } from "switchboard/client/node";

const options: ServeOptions = resolveOptions({ env: {}, overrides: { apiPort: 0, logLevel: "silent" } });
const logger: Logger = createLogger(options.logLevel);
export async function embed(): Promise<string> {
  const sb: Switchboard = await startSwitchboard(options, logger);
  const concerns: [MessageBus, NodeRegistry, Presence, MessageStore] = [sb.backends.bus, sb.backends.registry, sb.backends.presence, sb.backends.store];
  await sb.close();
  return \`\${sb.apiUrl} \${concerns.length}\`;
}
export const error: SwitchboardError = new ConfigError("bad setting");
const clientOptions: ClientOptions = { apiUrl: "http://127.0.0.1:5001", uid: "u", token: "t", transport: "tcp", connect: tcpTransport() };
export const client = new SwitchboardClient(clientOptions);
// @ts-expect-error the browser-safe entry has no TCP transport
export const noTcp = browserSafe.tcpTransport;
`;

const REPORT_JS = `let failures = 0;
function report(ok, what, detail) {
  console.log(\`\${ok ? "ok  " : "FAIL"} \${what}\${detail ? \` (\${detail})\` : ""}\`);
  if (!ok) failures++;
  return ok;
}
const isClass = (v, base) => typeof v === "function" && (v === base || v.prototype instanceof base);
const missingFrom = (mod, names) => names.filter((n) => !(n in mod));
`;

const CONSUMER_JS = `import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
${REPORT_JS}
const server = await import("switchboard");
const client = await import("switchboard/client");
const clientNode = await import("switchboard/client/node");
report(import.meta.resolve("switchboard").endsWith("/node_modules/switchboard/dist/src/index.js"), "switchboard resolves to the installed dist/src/index.js");
report(import.meta.resolve("switchboard/client").endsWith("/node_modules/switchboard/dist/src/client/index.js"), "switchboard/client resolves to dist/src/client/index.js in Node");

report(["startSwitchboard", "resolveOptions", "createLogger"].every((n) => typeof server[n] === "function") && typeof server.silentLogger?.child === "function",
  "switchboard exports startSwitchboard, resolveOptions, createLogger, silentLogger");
const errorNames = Object.keys(server).filter((n) => n.endsWith("Error"));
report(errorNames.includes("ConfigError") && errorNames.every((n) => isClass(server[n], server.SwitchboardError)) && new server.ConfigError("x").code === "config_error",
  "switchboard exports SwitchboardError and its subclasses", errorNames.join(", "));

const clientNames = ["SwitchboardClient", "webSocketTransport", "ClientClosedError", "ConnectionRefusedError", "InvalidOptionError", "SendError"];
report(clientNames.every((n) => typeof client[n] === "function") && typeof client.DEFAULT_HEARTBEAT_MS === "number", "switchboard/client exports the SDK", clientNames.join(", "));
report(!("tcpTransport" in client), "switchboard/client has no TCP transport (browser-safe)");
const lost = missingFrom(clientNode, Object.keys(client));
report(typeof clientNode.tcpTransport === "function" && lost.length === 0, "switchboard/client/node exports the SDK and tcpTransport", lost.join(", ") || undefined);

const dataDir = mkdtempSync(join(tmpdir(), "switchboard-embed-"));
let sb;
const clients = [];
try {
  const options = server.resolveOptions({
    overrides: { apiPort: 0, tcpPort: 0, wsPort: 0, wssPort: 0, apiHost: "127.0.0.1", bindHost: "127.0.0.1",
      externalHost: "127.0.0.1", intranetHost: "127.0.0.1", dataDir, apiKey: "off", logLevel: "silent" },
    env: {},
  });
  sb = await server.startSwitchboard(options, server.createLogger(options.logLevel));
  report(/^http:\\/\\/127\\.0\\.0\\.1:\\d+$/.test(sb.apiUrl) && sb.nodes.length === 2, "startSwitchboard from the installed package", \`\${sb.apiUrl}, \${sb.nodes.length} nodes\`);
  const health = await fetch(\`\${sb.apiUrl}/health\`);
  const body = await health.json();
  report(health.status === 200 && body.status === "ok", "GET /health answers 200", \`status \${health.status}, \${JSON.stringify(body.status)}\`);
  const bundle = await fetch(\`\${sb.apiUrl}/web/dist/switchboard-client.js\`);
  await bundle.arrayBuffer();
  report(bundle.status === 200, "GET /web/dist/switchboard-client.js is served from the package", \`status \${bundle.status}\`);

  // The installed SDK: bob on TCP (switchboard/client/node), alice on WebSocket (switchboard/client).
  for (const uid of ["alice", "bob"]) {
    const res = await fetch(\`\${sb.apiUrl}/user/token\`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ uid, token: \`t-\${uid}\`, device_flag: 0 }) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(\`POST /user/token for \${uid}: \${res.status}\`);
  }
  const common = { apiUrl: sb.apiUrl, connectTimeoutMs: 5_000 };
  const bob = new clientNode.SwitchboardClient({ ...common, uid: "bob", token: "t-bob", transport: "tcp", connect: clientNode.tcpTransport() });
  const alice = new client.SwitchboardClient({ ...common, uid: "alice", token: "t-alice", WebSocket });
  clients.push(bob, alice);
  await Promise.all([bob.connect(), alice.connect()]);
  const got = new Promise((resolve) => bob.once("message", resolve));
  const sent = await alice.send("bob", 1, "hello from the package");
  const message = await Promise.race([got, new Promise((_, reject) => setTimeout(() => reject(new Error("no message within 5 s")), 5_000).unref())]);
  report(message.text === "hello from the package" && message.fromUid === "alice" && sent.messageSeq > 0,
    "the SDK chats through it: alice (WebSocket) to bob (TCP)", \`seq \${sent.messageSeq}\`);
} catch (err) {
  report(false, "embedded Switchboard", err?.stack ?? String(err));
} finally {
  for (const c of clients) c.close();
  if (sb) {
    await sb.close();
    report(true, "Switchboard closed");
  }
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(failures === 0 ? 0 : 1);
`;

const BROWSER_JS = `import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
${REPORT_JS}
const url = import.meta.resolve("switchboard/client");
report(url.endsWith("/node_modules/switchboard/web/dist/switchboard-client.js"), "switchboard/client resolves to the browser bundle under the browser condition");
const text = readFileSync(fileURLToPath(url), "utf8");
const nodeImports = text.match(/(?:from|import)\\s*\\(?\\s*["']node:[^"']*["']|require\\(\\s*["'](?:node:)?(?:buffer|net|fs|crypto|path)["']/g) ?? [];
report(nodeImports.length === 0, "the browser bundle imports no node: module", nodeImports.slice(0, 3).join(", ") || \`\${Math.round(text.length / 1024)} kB\`);
const bundle = await import("switchboard/client");
const dist = await import(new URL("../../dist/src/client/index.js", url).href);
const lost = missingFrom(bundle, Object.keys(dist));
report(lost.length === 0 && typeof bundle.SwitchboardClient === "function", "the browser bundle exports what dist/src/client/index.js does", lost.join(", ") || \`\${Object.keys(dist).length} names\`);
process.exit(failures === 0 ? 0 : 1);
`;

// Last, so that the templates above are defined when main() runs.
try {
  await main();
} catch (err) {
  report(false, "check-package itself", err instanceof Error ? err.message : String(err));
} finally {
  cleanup();
}
console.log(`${failures === 0 ? "package ok" : `package: ${failures} check(s) failed`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failures === 0 ? 0 : 1);
