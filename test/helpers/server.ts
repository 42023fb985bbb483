import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ServeOptions, resolveOptions } from "../../src/config/options.js";
import { type Switchboard, startSwitchboard } from "../../src/server/switchboard.js";
import { createLogger, silentLogger } from "../../src/util/logger.js";

export interface TestServer extends Switchboard {
  dataDir: string;
  /** POST JSON to the router; returns status and parsed body (or text when not JSON). */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
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
      ...overrides,
    },
  });
  const logger = process.env.TEST_LOG ? createLogger("debug", 2) : silentLogger;
  const sb = await startSwitchboard(options, logger);
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${sb.apiUrl}${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed as any };
  };
  return Object.assign(Object.create(null), sb, {
    dataDir,
    close: sb.close,
    post: (path: string, body: unknown, headers?: Record<string, string>) => request("POST", path, body, headers),
    get: (path: string, headers?: Record<string, string>) => request("GET", path, undefined, headers),
    async stop() {
      await sb.close();
      if (!overrides.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  }) as TestServer;
}
