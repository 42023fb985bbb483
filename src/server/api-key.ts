import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../util/errors.js";

export interface ResolvedApiKey {
  /** undefined: server-side endpoints are open (`--api-key off`, development only). */
  key: string | undefined;
  source: "option" | "stored" | "generated" | "off";
  /** Where a generated key is kept. */
  path?: string;
}

/** File in the data folder that keeps the generated key across restarts. */
export const API_KEY_FILE = "api-key";

/**
 * Secure by default: with no --api-key, the server-side endpoints still need a key — one made on
 * first start and kept (mode 0600) in the data folder, so it survives restarts. `off` opens them.
 */
export function resolveApiKey(option: string | undefined, dataDir: string): ResolvedApiKey {
  if (option === "off") return { key: undefined, source: "off" };
  if (option !== undefined) {
    if (option.length < 8) throw new ConfigError("--api-key must be at least 8 characters (or `off` to open the server-side API)");
    return { key: option, source: "option" };
  }
  const path = join(dataDir, API_KEY_FILE);
  if (existsSync(path)) {
    const key = readFileSync(path, "utf8").trim();
    if (key.length >= 8) return { key, source: "stored", path };
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(24).toString("base64url");
  writeFileSync(path, `${key}\n`, { mode: 0o600 });
  return { key, source: "generated", path };
}
