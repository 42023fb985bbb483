import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ServeOptions, resolveOptions } from "../../src/config/options.js";
import { type Switchboard, startSwitchboard } from "../../src/server/switchboard.js";
import { createLogger, silentLogger } from "../../src/util/logger.js";

// biome-ignore lint/suspicious/noExplicitAny: test answers are checked field by field
type Json = any;

export interface TestServer extends Switchboard, ApiClient {
  dataDir: string;
  stop(): Promise<void>;
}

export interface ApiClient {
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: Json }>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: Json }>;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: Json }>;
}

/** JSON over HTTP to a router API; the body comes back parsed (or as text when not JSON). */
export function apiClient(apiUrl: string): ApiClient {
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed as Json };
  };
  return {
    request,
    post: (path, body, headers) => request("POST", path, body, headers),
    get: (path, headers) => request("GET", path, undefined, headers),
  };
}

/** A real Switchboard on free loopback ports with its own data folder; defaults suit tests. */
export async function startTestServer(overrides: Partial<ServeOptions> = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), "switchboard-test-"));
  const options = resolveOptions({
    env: {},
    overrides: {
      apiHost: "127.0.0.1",
      bindHost: "127.0.0.1",
      apiPort: 0,
      tcpPort: 0,
      wsPort: 0,
      wssPort: 0,
      dataDir,
      logLevel: "silent",
      // Tests of the server-side API call it without a key unless they test the key itself.
      apiKey: "off",
      ...overrides,
    },
  });
  const logger = process.env.TEST_LOG ? createLogger("debug", 2) : silentLogger;
  const sb = await startSwitchboard(options, logger);
  return Object.assign(Object.create(null), sb, {
    dataDir,
    close: sb.close,
    ...apiClient(sb.apiUrl),
    async stop() {
      await sb.close();
      if (!overrides.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  }) as TestServer;
}
