/**
 * The layering of src/, executable: which folders each folder may import (type-only imports
 * count: a type import is still a dependency a reader has to follow), which packages only some
 * files may load, and that protocol/ stays I/O-free. docs/architecture.md explains the rules;
 * this file is where they are kept.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, test } from "node:test";
import ts from "typescript";

const root = new URL("..", import.meta.url).pathname;
const src = join(root, "src");

/** Folder → the folders it may import. "(root)" is src/index.ts, the package entry. */
const ALLOWED: Record<string, readonly string[]> = {
  protocol: [],
  util: ["protocol"],
  client: ["protocol"],
  store: ["util", "protocol"],
  cluster: ["util", "protocol", "store"],
  metrics: ["util", "protocol"],
  config: ["util", "cluster"],
  messaging: ["cluster", "store", "metrics", "protocol", "util"],
  gateway: ["messaging", "cluster", "store", "metrics", "protocol", "util"],
  router: ["messaging", "cluster", "store", "metrics", "protocol", "util"],
  server: ["router", "gateway", "messaging", "cluster", "store", "metrics", "config", "protocol", "util"],
  cli: ["server", "config", "client", "protocol", "util"],
  "(root)": ["server", "config", "cluster", "store", "messaging", "gateway", "util"],
};

/** Packages that only some files may import: the backend of a concern, side by side with the others. */
const PACKAGE_HOMES: Record<string, RegExp> = {
  ioredis: /^cluster\/(redis-common|[a-z-]+-redis)\.ts$/,
  nats: /^cluster\/[a-z-]+-nats\.ts$/,
  pg: /^store\/(message-store-postgres|postgres-[a-z-]+)\.ts$/,
  "better-sqlite3": /^store\/(message-store-sqlite|sqlite-[a-z-]+)\.ts$/,
  hono: /^router\//,
  "@hono/node-server": /^router\/http-server\.ts$/,
  "prom-client": /^metrics\//,
  pino: /^util\/logger\.ts$/,
  ws: /^(gateway\/transport-ws|cli\/chat)\.ts$/,
};

/** protocol/ is I/O-free: its own files and two node modules, nothing else. */
const PROTOCOL_EXTERNAL = new Set(["node:crypto", "node:buffer"]);

interface SourceFile {
  /** Path under src/, e.g. "store/message-store.ts". */
  path: string;
  text: string;
}

function folderOf(path: string): string {
  return path.includes("/") ? path.slice(0, path.indexOf("/")) : "(root)";
}

function packageName(spec: string): string {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/** Every rule broken by `files`, as "file: imports x (why)". */
function layeringViolations(files: readonly SourceFile[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const folder = folderOf(f.path);
    const allowed = ALLOWED[folder];
    if (!allowed) {
      out.push(`${f.path}: folder ${folder} has no rule in test/architecture.test.ts`);
      continue;
    }
    // preProcessFile finds import, import type, export ... from and import() alike, comments excluded.
    for (const { fileName: spec } of ts.preProcessFile(f.text, true, true).importedFiles) {
      if (spec.startsWith(".")) {
        const target = normalize(join(dirname(f.path), spec));
        if (target.startsWith("..")) {
          out.push(`${f.path}: imports ${spec}, outside src/`);
          continue;
        }
        const to = folderOf(target);
        if (folder === "protocol" && !/^\.\/[a-z0-9-]+\.js$/.test(spec))
          out.push(`${f.path}: imports ${spec} (protocol/ imports only its own files)`);
        else if (to !== folder && !allowed.includes(to))
          out.push(`${f.path}: imports ${spec} (${folder}/ may import ${allowed.join(", ") || "nothing else"})`);
        continue;
      }
      if (folder === "protocol" && !PROTOCOL_EXTERNAL.has(spec)) {
        out.push(`${f.path}: imports ${spec} (protocol/ is I/O-free: only ${[...PROTOCOL_EXTERNAL].join(", ")})`);
        continue;
      }
      const home = PACKAGE_HOMES[packageName(spec)];
      if (home && !home.test(f.path)) out.push(`${f.path}: imports ${spec} (only files matching ${home} may)`);
    }
    if (folder === "protocol" && /\brequire\(/.test(f.text)) out.push(`${f.path}: uses require (protocol/ is I/O-free)`);
  }
  return out;
}

function readSources(dir: string): SourceFile[] {
  const out: SourceFile[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...readSources(path));
    else if (name.endsWith(".ts")) out.push({ path: relative(src, path), text: readFileSync(path, "utf8") });
  }
  return out;
}

describe("architecture: the layering of src/", () => {
  const files = readSources(src);

  test("every folder imports only what its rule allows; backend packages stay in their backend files", () => {
    assert.ok(files.length > 100, `found the sources (${files.length})`);
    assert.deepEqual(layeringViolations(files), []);
  });

  test("every folder under src/ has a rule", () => {
    const folders = new Set(files.map((f) => folderOf(f.path)));
    assert.deepEqual(
      [...folders].filter((f) => !(f in ALLOWED)),
      [],
    );
  });

  test("a wrong import fails, naming the file and the import", () => {
    const wrong: SourceFile[] = [
      { path: "store/oops.ts", text: 'import type { Messenger } from "../messaging/messenger.js";\n' },
      { path: "protocol/oops.ts", text: 'import net from "node:net";\nexport { x } from "../util/errors.js";\n' },
      { path: "gateway/oops.ts", text: 'import Redis from "ioredis";\n// import { x } from "../server/switchboard.js";\n' },
      { path: "messaging/oops.ts", text: 'const m = await import("../router/app.js");\n' },
    ];
    assert.deepEqual(layeringViolations(wrong), [
      "store/oops.ts: imports ../messaging/messenger.js (store/ may import util, protocol)",
      "protocol/oops.ts: imports node:net (protocol/ is I/O-free: only node:crypto, node:buffer)",
      "protocol/oops.ts: imports ../util/errors.js (protocol/ imports only its own files)",
      `gateway/oops.ts: imports ioredis (only files matching ${PACKAGE_HOMES.ioredis} may)`,
      "messaging/oops.ts: imports ../router/app.js (messaging/ may import cluster, store, metrics, protocol, util)",
    ]);
  });
});
