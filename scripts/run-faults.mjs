#!/usr/bin/env node
// The fault suite at full size: every test/faults/*.test.ts with FAULT_SCALE=full, one file
// at a time (they load the machine), then the protocol property fuzz at FUZZ_RUNS=350000 (3 properties,
// so ≥ 1.05M inputs of one or more frames each). Prints each scenario's figures as a table at the end
// and keeps them in test-artifacts/faults-<scale>.jsonl.
// Usage: npm run test:faults [-- substring ... | fuzz]   (FAULT_SCALE=ci for the small sizes; FUZZ_RUNS to change the fuzz)
import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const scale = process.env.FAULT_SCALE ?? "full";
const fuzzRuns = process.env.FUZZ_RUNS ?? (scale === "full" ? "350000" : "20000");
const filters = process.argv.slice(2);
mkdirSync(join(root, "test-artifacts"), { recursive: true });
const reportFile = join(root, "test-artifacts", `faults-${scale}.jsonl`);
rmSync(reportFile, { force: true });

const files = readdirSync(join(root, "test/faults"))
  .filter((f) => f.endsWith(".test.ts"))
  .map((f) => `test/faults/${f}`)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
const fuzz = filters.length === 0 || filters.includes("fuzz");

function run(args, env) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...args], {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, FAULT_SCALE: scale, FAULT_REPORT: reportFile, ...env },
    });
    child.on("exit", (code, signal) => resolve({ ok: code === 0 && !signal, seconds: Math.round((Date.now() - started) / 1000) }));
  });
}

const results = [];
if (files.length > 0) results.push({ what: `test/faults (${files.length} files, FAULT_SCALE=${scale})`, ...(await run(files, {})) });
if (fuzz) {
  const r = await run(["test/protocol/fuzz.test.ts"], { FUZZ_RUNS: fuzzRuns });
  results.push({ what: `test/protocol/fuzz.test.ts (FUZZ_RUNS=${fuzzRuns})`, ...r });
  if (r.ok) {
    const inputs = 3 * Number(fuzzRuns);
    const line = JSON.stringify({ scenario: "protocol property fuzz (decoder)", scale, runs: fuzzRuns, inputs, seconds: r.seconds });
    appendFileSync(reportFile, `${line}\n`);
  }
}

console.log("\n== fault suite figures");
let lines = [];
try {
  lines = readFileSync(reportFile, "utf8").split("\n").filter(Boolean);
} catch {}
for (const line of lines) {
  const { scenario, scale: s, at: _at, ...figures } = JSON.parse(line);
  console.log(`\n${scenario} [${s}]`);
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(36)} ${v}`);
}
console.log("\n== runs");
for (const r of results) console.log(`  ${r.ok ? "pass" : "FAIL"}  ${r.what}  (${r.seconds} s)`);
console.log(`\nfigures kept in ${reportFile}`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
