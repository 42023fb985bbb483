import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";

/** protocol/ is I/O-free and self-contained: it may import its own files and two node modules, nothing else. */
const ALLOWED_EXTERNAL = new Set(["node:crypto", "node:buffer"]);
const dir = new URL("../../src/protocol/", import.meta.url);

test("src/protocol imports only its own files, node:crypto and node:buffer", () => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
  assert.ok(files.length >= 15, "found the protocol sources");
  for (const file of files) {
    const source = readFileSync(new URL(file, dir), "utf8");
    const specifiers = [...source.matchAll(/(?:import|export)\s[^;]*?from\s+"([^"]+)"|import\("([^"]+)"\)/g)].map((m) => m[1] ?? m[2]);
    for (const spec of specifiers) {
      if (spec.startsWith("./")) {
        assert.match(spec, /^\.\/[a-z0-9-]+\.js$/, `${file}: relative imports stay in the folder and end in .js`);
      } else {
        assert.ok(ALLOWED_EXTERNAL.has(spec), `${file} imports ${spec}`);
      }
    }
    assert.doesNotMatch(source, /\brequire\(/, `${file} uses require`);
  }
});
