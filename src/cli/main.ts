#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { optionsHelp, resolveOptions } from "../config/options.js";
import type { ResolvedApiKey } from "../server/api-key.js";
import { startSwitchboard } from "../server/switchboard.js";
import { ConfigError, SwitchboardError } from "../util/errors.js";
import { createLogger } from "../util/logger.js";
import { packageRoot } from "../util/package-root.js";
import { chat } from "./chat.js";

const USAGE = `switchboard — an IM gateway cluster speaking WuKongIM's protocol

Usage:
  switchboard serve [options]    run the router API and gateway nodes (default: 2 nodes, SQLite)
  switchboard chat --user NAME [--api URL] [--api-key KEY] [--transport ws|tcp]
                                 a terminal chat client (CIM's commands; :help inside)
  switchboard --version
  switchboard help

Options of serve (flags > env > --config file > defaults):
`;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { name?: string; version: string };
    if (pkg.name === "switchboard") return pkg.version;
  } catch {}
  return "unknown";
}

/** The banner's API key line: a generated key is shown so the operator can use it (it is never logged). */
function apiKeyLine(k: ResolvedApiKey): string {
  if (k.source === "off") return "  api key     none: server-side endpoints are open (--api-key off), development only";
  if (k.source === "option") return "  api key     as configured (--api-key): send it as header `token: KEY` on server-side endpoints";
  const how = k.source === "generated" ? "generated" : "kept";
  return `  api key     ${k.key}   (${how} in ${k.path}; send as header \`token: KEY\` on /user, /message, /channel, ...)`;
}

async function serve(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}${optionsHelp()}\n`);
    return;
  }
  const options = resolveOptions({ argv });
  const logger = createLogger(options.logLevel);
  const sb = await startSwitchboard(options, logger);
  const lines = [
    `Switchboard ${version()} is up.`,
    `  web         ${sb.apiUrl}/   (chat and live dashboard; metrics at /metrics)`,
    `  router API  ${sb.apiUrl}   (try: curl -X POST "${sb.apiUrl}/route/batch?intranet=0" -H 'Content-Type: application/json' -d '["user1","user2","user3"]')`,
    ...sb.nodes.map((n) => {
      const a = n.info().external;
      return `  ${n.id.padEnd(10)}  tcp ${a.tcpAddr}   ${a.wsAddr}   ${a.wssAddr}`;
    }),
    `  store       ${sb.backends.describe.store}; cluster: registry ${sb.backends.describe.registry}, bus ${sb.backends.describe.bus}`,
    options.tokenAuth
      ? "  auth        tokens required on CONNECT (set them with POST /user/token)"
      : "  auth        token-less CONNECT allowed (--no-token-auth): development only",
    apiKeyLine(sb.apiKey),
    "Press Ctrl-C to stop.",
  ];
  process.stderr.write(`${lines.join("\n")}\n`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, "shutting down");
    await sb.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case "serve":
      return serve(rest);
    case "chat":
      return chat(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}${optionsHelp()}\n`);
      return;
    case "--version":
    case "-v":
      process.stdout.write(`${version()}\n`);
      return;
    default:
      throw new ConfigError(`unknown command ${JSON.stringify(command)} (try: switchboard help)`);
  }
}

// Every start failure (a setting, a port in use, a store or broker that cannot be reached) is one
// sentence and exit code 2; DEBUG=switchboard adds the stack.
main().catch((err) => {
  const known = err instanceof SwitchboardError;
  const sentence = known ? err.message : `failed to start: ${(err as Error)?.message ?? String(err)}`;
  process.stderr.write(`switchboard: ${sentence}\n`);
  if (process.env.DEBUG?.includes("switchboard")) process.stderr.write(`${(err as Error)?.stack ?? err}\n`);
  process.exit(2);
});
