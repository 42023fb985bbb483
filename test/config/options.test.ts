import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { OPTION_TABLE } from "../../src/config/option-table.js";
import { resolveOptions } from "../../src/config/options.js";
import { ConfigError } from "../../src/util/errors.js";

describe("options", () => {
  test("defaults are the embedded set-up: 2 nodes on 5001/5100/5200/5300, SQLite, tokens on", () => {
    const o = resolveOptions({ env: {} });
    assert.equal(o.nodes, 2);
    assert.equal(o.apiPort, 5001);
    assert.equal(o.tcpPort, 5100);
    assert.equal(o.wsPort, 5200);
    assert.equal(o.wssPort, 5300);
    assert.equal(o.strategy, "consistent-hash");
    assert.equal(o.deliveryMode, "targeted");
    assert.equal(o.tokenAuth, true);
    assert.equal(o.postgresUrl, undefined);
  });

  test("flags beat env, env beats the config file", () => {
    const dir = mkdtempSync(join(tmpdir(), "sb-opt-"));
    const file = join(dir, "c.json");
    writeFileSync(file, JSON.stringify({ nodes: 5, apiPort: 7000, strategy: "random" }));
    const o = resolveOptions({ argv: ["--config", file, "--nodes", "3"], env: { SWITCHBOARD_API_PORT: "7100" } });
    assert.equal(o.nodes, 3);
    assert.equal(o.apiPort, 7100);
    assert.equal(o.strategy, "random");
  });

  test("--flag=value, --no-flag and lists", () => {
    const o = resolveOptions({
      argv: ["--tcp-port=6000", "--no-token-auth", "--allowed-origins", "https://a.example, https://b.example"],
      env: {},
    });
    assert.equal(o.tcpPort, 6000);
    assert.equal(o.tokenAuth, false);
    assert.deepEqual(o.allowedOrigins, ["https://a.example", "https://b.example"]);
  });

  for (const [argv, pattern] of [
    [["--nodes", "zero"], /expected a whole number/],
    [["--nodes", "0"], /below the minimum 1/],
    [["--api-port", "70000"], /above the maximum/],
    [["--strategy", "fastest"], /not one of consistent-hash/],
    [["--bogus"], /unknown option --bogus/],
    [["--nodes"], /--nodes needs a value/],
    [["--tls-cert", "/x.pem"], /go together/],
    [["--redis", "not a url"], /is not a URL/],
    [["--nats", "nats://127.0.0.1:4222"], /need --redis too/],
    [["--tcp-port", "65535", "--nodes", "2"], /runs past port 65535/],
    [["stray"], /unexpected argument/],
  ] as const) {
    test(`bad value ${argv.join(" ")} is a ConfigError naming it`, () => {
      assert.throws(
        () => resolveOptions({ argv: [...argv], env: {} }),
        (err: unknown) => err instanceof ConfigError && pattern.test(err.message),
      );
    });
  }

  test("a bad env value names the variable", () => {
    assert.throws(() => resolveOptions({ env: { SWITCHBOARD_NODES: "many" } }), /env SWITCHBOARD_NODES/);
  });

  test("a config file with an unknown key or bad JSON is refused", () => {
    const dir = mkdtempSync(join(tmpdir(), "sb-opt-"));
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{ nodes: 2 ");
    assert.throws(() => resolveOptions({ argv: ["--config", bad], env: {} }), /not valid JSON/);
    const unknown = join(dir, "unknown.json");
    writeFileSync(unknown, JSON.stringify({ nodez: 2 }));
    assert.throws(() => resolveOptions({ argv: ["--config", unknown], env: {} }), /unknown key "nodez"/);
    assert.throws(() => resolveOptions({ argv: ["--config", join(dir, "missing.json")], env: {} }), /cannot read config file/);
  });

  test("the README documents every option (flag and env var)", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    for (const spec of OPTION_TABLE) {
      assert.ok(readme.includes(`--${spec.flag}`), `README mentions --${spec.flag}`);
      assert.ok(readme.includes(spec.env), `README mentions ${spec.env}`);
    }
  });
});

describe("the API key", () => {
  test("is generated once, kept in the data folder (0600), and reused", async () => {
    const { mkdtempSync, statSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { resolveApiKey } = await import("../../src/server/api-key.js");
    const dir = mkdtempSync(join(tmpdir(), "switchboard-key-"));
    try {
      const first = resolveApiKey(undefined, dir);
      assert.equal(first.source, "generated");
      assert.ok((first.key ?? "").length >= 32, "a long random key");
      assert.equal(statSync(join(dir, "api-key")).mode & 0o777, 0o600);
      const again = resolveApiKey(undefined, dir);
      assert.equal(again.source, "stored");
      assert.equal(again.key, first.key);
      assert.deepEqual(resolveApiKey("off", dir), { key: undefined, source: "off" });
      assert.equal(resolveApiKey("a-configured-key", dir).key, "a-configured-key");
      assert.throws(() => resolveApiKey("short", dir), /at least 8 characters/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
