import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import selfsigned from "selfsigned";
import { SELF_SIGNED_VALIDITY_DAYS, loadOrCreateCertificate } from "../../src/gateway/tls.js";
import { ConfigError } from "../../src/util/errors.js";

const DAY_MS = 24 * 3600 * 1000;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "switchboard-tls-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A certificate someone else made (not ours), for the "operator's files" cases. */
function foreignPair(commonName = "ops.example.com") {
  const p = selfsigned.generate([{ name: "commonName", value: commonName }], { keySize: 2048, days: 30, algorithm: "sha256" });
  return { cert: p.cert, key: p.private };
}

test("generates a self-signed certificate once, then reuses the stored files", () => {
  const first = loadOrCreateCertificate({ dataDir: dir, hostnames: ["gw.example.com", "10.0.0.7", "0.0.0.0", "", undefined] });
  assert.equal(first.source, "generated");
  assert.equal(first.certPath, join(dir, "tls", "cert.pem"));
  assert.equal(readFileSync(first.certPath, "utf8"), first.cert);
  assert.equal(readFileSync(first.keyPath, "utf8"), first.key);
  if (process.platform !== "win32") assert.equal(statSync(first.keyPath).mode & 0o777, 0o600);

  const x509 = new X509Certificate(first.cert);
  assert.equal(
    x509.subjectAltName,
    "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:gw.example.com, IP Address:10.0.0.7",
  );
  assert.equal(x509.ca, false);
  const days = (Date.parse(x509.validTo) - Date.now()) / DAY_MS;
  assert.ok(Math.abs(days - SELF_SIGNED_VALIDITY_DAYS) < 2, `valid for ${days} days`);
  assert.ok(Date.parse(x509.validFrom) <= Date.now(), "valid from now or earlier");

  const second = loadOrCreateCertificate({ dataDir: dir, hostnames: ["gw.example.com"] });
  assert.equal(second.source, "data-dir");
  assert.equal(second.cert, first.cert);
  assert.equal(second.key, first.key);
});

test("a stored generated certificate that lacks a newly asked-for hostname is replaced", () => {
  const first = loadOrCreateCertificate({ dataDir: dir, hostnames: ["a.example.com"] });
  const second = loadOrCreateCertificate({ dataDir: dir, hostnames: ["b.example.com"] });
  assert.equal(second.source, "generated");
  assert.notEqual(second.cert, first.cert);
  assert.ok(new X509Certificate(second.cert).checkHost("b.example.com"), "covers the new name");
  assert.equal(loadOrCreateCertificate({ dataDir: dir, hostnames: ["b.example.com"] }).source, "data-dir");
});

test("an operator's certificate in the data folder is used as is, never regenerated", () => {
  const pair = foreignPair();
  mkdirSync(join(dir, "tls"));
  writeFileSync(join(dir, "tls", "cert.pem"), pair.cert);
  writeFileSync(join(dir, "tls", "key.pem"), pair.key);
  const got = loadOrCreateCertificate({ dataDir: dir, hostnames: ["not-in-that-cert.example.com"] });
  assert.equal(got.source, "data-dir");
  assert.equal(got.cert, pair.cert);
});

test("only one of the stored files present: a new pair is generated over it", () => {
  mkdirSync(join(dir, "tls"));
  writeFileSync(join(dir, "tls", "key.pem"), "left over");
  const got = loadOrCreateCertificate({ dataDir: dir });
  assert.equal(got.source, "generated");
  assert.equal(readFileSync(join(dir, "tls", "key.pem"), "utf8"), got.key);
});

test("given paths are used when both are set", () => {
  const pair = foreignPair();
  const certPath = join(dir, "my-cert.pem");
  const keyPath = join(dir, "my-key.pem");
  writeFileSync(certPath, pair.cert);
  writeFileSync(keyPath, pair.key);
  const got = loadOrCreateCertificate({ dataDir: dir, certPath, keyPath });
  assert.deepEqual(got, { cert: pair.cert, key: pair.key, source: "files", certPath, keyPath });
});

test("unreadable, malformed or mismatched files are a clear ConfigError", () => {
  const pair = foreignPair();
  const other = foreignPair("other.example.com");
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  const missing = join(dir, "missing.pem");
  writeFileSync(certPath, pair.cert);
  writeFileSync(keyPath, pair.key);
  const fails = (opts: { certPath?: string; keyPath?: string }, pattern: RegExp) =>
    assert.throws(
      () => loadOrCreateCertificate({ dataDir: dir, ...opts }),
      (err: unknown) => err instanceof ConfigError && pattern.test(err.message),
    );
  fails({ certPath: missing, keyPath }, /cannot read TLS certificate .*missing\.pem/);
  fails({ certPath, keyPath: missing }, /cannot read TLS key .*missing\.pem/);
  fails({ certPath }, /give both paths or neither/);
  writeFileSync(missing, "not a pem");
  fails({ certPath: missing, keyPath }, /is not a PEM certificate/);
  fails({ certPath, keyPath: missing }, /is not a PEM private key/);
  writeFileSync(missing, other.key);
  fails({ certPath, keyPath: missing }, /does not match its certificate/);
});

test("a corrupt stored pair is an error that says how to recover", () => {
  mkdirSync(join(dir, "tls"));
  writeFileSync(join(dir, "tls", "cert.pem"), "garbage");
  writeFileSync(join(dir, "tls", "key.pem"), "garbage");
  assert.throws(() => loadOrCreateCertificate({ dataDir: dir }), /delete both files to generate new ones/);
});
