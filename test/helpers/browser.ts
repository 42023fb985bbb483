/**
 * Debian's chromium driven by playwright-core, for the web tests. In CI a missing browser fails
 * the run (.ci/run installs it); elsewhere the tests skip with the reason.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM_PATHS = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
export const ARTIFACTS = join(new URL("../..", import.meta.url).pathname, "test-artifacts");

export function chromiumPath(): string | undefined {
  return process.env.CHROMIUM_PATH ?? CHROMIUM_PATHS.find((p) => existsSync(p));
}

/** `false` when a browser is there (node:test's `skip`), or the reason to skip. */
export function skipUnlessBrowser(): false | string {
  if (chromiumPath()) return false;
  const reason = `chromium not found (${CHROMIUM_PATHS.join(", ")}; apt-get install chromium)`;
  if (process.env.CI === "true") throw new Error(`${reason} (required in CI)`);
  console.log(`# skipping: ${reason}`);
  return reason;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
  });
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
