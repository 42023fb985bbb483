import { readFileSync } from "node:fs";
import type { StrategyName } from "../cluster/assignment.js";
import { ConfigError } from "../util/errors.js";
import type { LogLevel } from "../util/logger.js";
import { OPTION_TABLE, type OptionSpec } from "./option-table.js";

/** The one resolved options object of `switchboard serve`. */
export interface ServeOptions {
  nodes: number;
  nodeId: string | undefined;
  apiHost: string;
  apiPort: number;
  bindHost: string;
  tcpPort: number;
  wsPort: number;
  wssPort: number;
  externalHost: string;
  intranetHost: string;
  dataDir: string;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  strategy: StrategyName;
  deliveryMode: "targeted" | "broadcast";
  broadcastAbove: number;
  redisUrl: string | undefined;
  natsUrl: string | undefined;
  postgresUrl: string | undefined;
  storeTimeoutMs: number;
  clusterName: string;
  webhookUrl: string | undefined;
  apiKey: string | undefined;
  tokenAuth: boolean;
  allowPlaintext: boolean;
  maxFrameBytes: number;
  maxWriteBufferBytes: number;
  maxConnections: number;
  sendRate: number;
  idleTimeoutMs: number;
  routeBatchLimit: number;
  allowedOrigins: string[];
  logLevel: LogLevel;
}

export interface ResolveInput {
  /** Command-line arguments after the subcommand, e.g. ["--nodes", "3"]. */
  argv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Values that win over everything (programmatic use and tests). */
  overrides?: Partial<ServeOptions>;
}

type Raw = string | number | boolean | string[] | undefined;

function convert(spec: OptionSpec, value: unknown, source: string): Raw {
  const where = `${source} (${spec.flag})`;
  switch (spec.kind) {
    case "int": {
      const n = typeof value === "number" ? value : typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
      if (!Number.isInteger(n)) throw new ConfigError(`${where}: expected a whole number, got ${JSON.stringify(value)}`);
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(`${where}: ${n} is below the minimum ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw new ConfigError(`${where}: ${n} is above the maximum ${spec.max}`);
      return n;
    }
    case "bool": {
      if (typeof value === "boolean") return value;
      const s = String(value).trim().toLowerCase();
      if (["1", "true", "yes", "on"].includes(s)) return true;
      if (["0", "false", "no", "off"].includes(s)) return false;
      throw new ConfigError(`${where}: expected true or false, got ${JSON.stringify(value)}`);
    }
    case "list":
      if (Array.isArray(value)) return value.map(String);
      return String(value)
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    case "enum": {
      const s = String(value);
      if (!spec.choices?.includes(s)) throw new ConfigError(`${where}: ${JSON.stringify(value)} is not one of ${spec.choices?.join(", ")}`);
      return s;
    }
    default: {
      if (typeof value !== "string" || value.length === 0) throw new ConfigError(`${where}: expected a non-empty string`);
      return value;
    }
  }
}

/** Parses `--key value`, `--key=value`, `--flag` / `--no-flag` for booleans; `--config FILE` names a JSON file. */
function parseArgv(argv: string[]): { values: Map<string, string | boolean>; configFile?: string } {
  const byFlag = new Map<string, OptionSpec>(OPTION_TABLE.map((s) => [s.flag, s]));
  const values = new Map<string, string | boolean>();
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)} (options start with --; see --help)`);
    let name = arg.slice(2);
    let inline: string | undefined;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (name === "config") {
      configFile = inline ?? argv[++i];
      if (!configFile) throw new ConfigError("--config needs a file path");
      continue;
    }
    const negated = name.startsWith("no-") && byFlag.get(name.slice(3))?.kind === "bool";
    const spec = byFlag.get(negated ? name.slice(3) : name);
    if (!spec) throw new ConfigError(`unknown option --${name} (see --help)`);
    if (spec.kind === "bool") {
      values.set(spec.key, negated ? false : inline === undefined ? true : inline);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new ConfigError(`--${name} needs a value`);
    values.set(spec.key, value);
  }
  return { values, configFile };
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  const known = new Set<string>(OPTION_TABLE.map((s) => s.key));
  for (const key of Object.keys(parsed))
    if (!known.has(key)) throw new ConfigError(`config file ${path}: unknown key ${JSON.stringify(key)}`);
  return parsed as Record<string, unknown>;
}

/**
 * Resolves options from (lowest to highest precedence) defaults, the JSON config file
 * (--config or SWITCHBOARD_CONFIG), environment variables, flags and programmatic overrides.
 * Throws ConfigError with a message naming the bad setting.
 */
export function resolveOptions(input: ResolveInput = {}): ServeOptions {
  const env = input.env ?? process.env;
  const { values: flags, configFile } = parseArgv(input.argv ?? []);
  const configPath = configFile ?? env.SWITCHBOARD_CONFIG;
  const file = configPath ? readConfigFile(configPath) : {};
  const out: Record<string, Raw> = {};
  for (const spec of OPTION_TABLE as readonly OptionSpec[]) {
    let value: Raw = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    if (spec.key in file) value = convert(spec, file[spec.key], `config file ${configPath}`);
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && fromEnv !== "") value = convert(spec, fromEnv, `env ${spec.env}`);
    if (flags.has(spec.key)) value = convert(spec, flags.get(spec.key), "flag");
    out[spec.key] = value;
  }
  const options = { ...(out as unknown as ServeOptions), ...input.overrides };
  checkConsistency(options);
  return options;
}

function checkConsistency(o: ServeOptions): void {
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined))
    throw new ConfigError("--tls-cert and --tls-key go together: give both or neither");
  if (o.nodeId !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(o.nodeId))
    throw new ConfigError(`--node-id ${JSON.stringify(o.nodeId)}: use 1-64 letters, digits, '.', '_' or '-'`);
  if (o.nodeId !== undefined && o.nodes !== 1 && o.redisUrl)
    throw new ConfigError("--node-id names the single node of a cluster process: use it with --nodes 1");
  if (!/^[a-z][a-z0-9_]{0,39}$/.test(o.clusterName))
    throw new ConfigError(
      `--cluster-name ${JSON.stringify(o.clusterName)}: use 1-40 lowercase letters, digits or '_', starting with a letter`,
    );
  for (const key of ["tcpPort", "wsPort", "wssPort"] as const) {
    if (o[key] !== 0 && o[key] + o.nodes - 1 > 65535) throw new ConfigError(`${key} ${o[key]} + ${o.nodes} nodes runs past port 65535`);
  }
  // --redis and --nats may list several servers (a Redis Cluster's seeds, a NATS cluster), comma-separated.
  for (const [key, value, list] of [
    ["redis", o.redisUrl, true],
    ["nats", o.natsUrl, true],
    ["postgres", o.postgresUrl, false],
    ["webhook", o.webhookUrl, false],
  ] as const) {
    if (value === undefined) continue;
    const urls = list ? value.split(",").map((u) => u.trim()) : [value];
    for (const url of urls) {
      try {
        new URL(url);
      } catch {
        throw new ConfigError(`--${key} ${JSON.stringify(url)} is not a URL`);
      }
    }
  }
  if (o.natsUrl && !o.redisUrl) throw new ConfigError("--nats carries messages only: node registry and presence need --redis too");
}

/** Help text for `switchboard serve --help`, from the option table. */
export function optionsHelp(): string {
  const lines = (OPTION_TABLE as readonly OptionSpec[]).map((s) => {
    const def = Array.isArray(s.default) ? s.default.join(",") : s.default;
    const choices = s.choices ? ` (${s.choices.join(" | ")})` : "";
    return `  --${s.flag.padEnd(24)} ${s.help}${choices}${def === undefined || def === "" ? "" : ` [${def}]`}\n  ${"".padEnd(26)} env ${s.env}`;
  });
  return ["  --config FILE              JSON file with any of the keys below (env SWITCHBOARD_CONFIG)", ...lines].join("\n");
}
