/**
 * The WSS certificate: the operator's files, or a self-signed one generated once into the data folder
 * so `switchboard serve` offers wss:// with no setup (clients must trust or pin it).
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import selfsigned from "selfsigned";
import { ConfigError } from "../util/errors.js";

/** 825 days: the longest validity Apple platforms accept for a TLS server certificate. */
export const SELF_SIGNED_VALIDITY_DAYS = 825;
export const SELF_SIGNED_KEY_BITS = 2048;
/** Subject CN of certificates we generate; only those are ever regenerated (never an operator's file). */
export const SELF_SIGNED_COMMON_NAME = "Switchboard self-signed";
/** A generated certificate this close to expiry is replaced at startup. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
/** notBefore is set back this much so clients with a slightly slow clock accept a fresh certificate. */
const CLOCK_SKEW_MS = 3600 * 1000;
const ALWAYS_COVERED = ["localhost", "127.0.0.1", "::1"];

export interface CertificateOptions {
  /** The node's data folder; a generated certificate lives in `<dataDir>/tls/`. */
  dataDir: string;
  /** Operator-supplied PEM files; used only when both are given. */
  certPath?: string;
  keyPath?: string;
  /** Names and addresses clients connect to; added to the generated certificate's SAN. */
  hostnames?: readonly (string | undefined)[];
}

export interface Certificate {
  cert: string;
  key: string;
  /** Where it came from: the operator's files, the data folder, or generated just now. */
  source: "files" | "data-dir" | "generated";
  certPath: string;
  keyPath: string;
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read TLS ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Parse both, and check the key belongs to the certificate: a clear startup error beats a failed handshake later. */
function parsePair(cert: string, key: string, where: string): X509Certificate {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError(`TLS certificate ${where} is not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  let keyObject: ReturnType<typeof createPrivateKey>;
  try {
    keyObject = createPrivateKey(key);
  } catch (err) {
    throw new ConfigError(`TLS key ${where} is not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (!x509.checkPrivateKey(keyObject)) throw new ConfigError(`TLS key ${where} does not match its certificate`);
  return x509;
}

/** Hostnames worth putting in a certificate: no wildcard bind addresses, no blanks, no duplicates. */
function sanNames(hostnames: readonly (string | undefined)[]): string[] {
  const names = new Set(ALWAYS_COVERED);
  for (const h of hostnames) {
    const name = h
      ?.trim()
      .replace(/^\[(.*)\]$/, "$1")
      .toLowerCase();
    if (name && name !== "0.0.0.0" && name !== "::") names.add(name);
  }
  return [...names];
}

function covers(x509: X509Certificate, name: string): boolean {
  return isIP(name) ? x509.checkIP(name) !== undefined : x509.checkHost(name) !== undefined;
}

/** A stored certificate we generated that is expiring or misses a name now asked for: make a new one. */
function isStale(x509: X509Certificate, names: string[]): boolean {
  if (!x509.subject.includes(`CN=${SELF_SIGNED_COMMON_NAME}`)) return false;
  if (Date.parse(x509.validTo) - Date.now() < RENEW_BEFORE_MS) return true;
  return !names.every((n) => covers(x509, n));
}

function generate(names: string[]): { cert: string; key: string } {
  const altNames = names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
  const pems = selfsigned.generate([{ name: "commonName", value: SELF_SIGNED_COMMON_NAME }], {
    keySize: SELF_SIGNED_KEY_BITS,
    days: SELF_SIGNED_VALIDITY_DAYS,
    algorithm: "sha256",
    notBeforeDate: new Date(Date.now() - CLOCK_SKEW_MS),
    // A server (leaf) certificate, not a CA: browsers refuse a CA certificate used as a server's.
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** Write via a temporary file and rename, so a crash never leaves half a PEM behind. */
function writeAtomically(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode); // the umask may have narrowed or (for 0600) the file may have existed
  renameSync(tmp, path);
}

/**
 * The certificate and key for WSS listeners: `certPath` + `keyPath` when both are set; else
 * `<dataDir>/tls/cert.pem` + `key.pem` when present; else a new self-signed certificate (SAN:
 * localhost, 127.0.0.1, ::1 and `hostnames`) written there (key mode 0600) for next time. A stored
 * certificate we generated is replaced when it nears expiry or lacks one of `hostnames`.
 * Throws ConfigError when files are unreadable, not PEM, or do not match.
 */
export function loadOrCreateCertificate(options: CertificateOptions): Certificate {
  const { certPath, keyPath } = options;
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new ConfigError("a TLS certificate and key go together: give both paths or neither");
  }
  if (certPath !== undefined && keyPath !== undefined) {
    const cert = readPem(certPath, "certificate");
    const key = readPem(keyPath, "key");
    parsePair(cert, key, `${certPath} / ${keyPath}`);
    return { cert, key, source: "files", certPath, keyPath };
  }

  const dir = join(options.dataDir, "tls");
  const stored = { certPath: join(dir, "cert.pem"), keyPath: join(dir, "key.pem") };
  const names = sanNames(options.hostnames ?? []);
  if (existsSync(stored.certPath) && existsSync(stored.keyPath)) {
    const cert = readPem(stored.certPath, "certificate");
    const key = readPem(stored.keyPath, "key");
    const x509 = parsePair(cert, key, `in ${dir} (delete both files to generate new ones)`);
    if (!isStale(x509, names)) return { cert, key, source: "data-dir", ...stored };
  }

  const { cert, key } = generate(names);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Key first: a cert.pem without its key.pem is never left behind.
    writeAtomically(stored.keyPath, key, 0o600);
    writeAtomically(stored.certPath, cert, 0o644);
  } catch (err) {
    throw new ConfigError(`cannot write the generated TLS certificate to ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return { cert, key, source: "generated", ...stored };
}
