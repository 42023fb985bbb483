import { basename, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The package's root folder (package.json, web/). This file runs as src/util/package-root.ts under
 * tsx and as dist/src/util/package-root.js when built: two folders up, or three past dist/.
 */
export function packageRoot(): string {
  const twoUp = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
  return basename(twoUp) === "dist" ? dirname(twoUp) : twoUp;
}
