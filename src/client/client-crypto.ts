/**
 * The client half of WuKongIM's encryption in pure JS (noble), so the SDK runs in browsers as well
 * as Node: X25519 key exchange, AES-128-CBC with key = first 16 hex chars of MD5(base64(shared)),
 * iv = the salt, and msg_key = hex(MD5(base64(AES(fields)))). The server's node:crypto version is
 * src/protocol/crypto.ts; test/client checks the two agree.
 */
import { cbc } from "@noble/ciphers/aes.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { md5 } from "@noble/hashes/legacy.js";

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

export interface ClientKeyPair {
  secretKey: Uint8Array;
  /** What CONNECT carries as client_key. */
  publicKeyBase64: string;
}

export function createKeyPair(): ClientKeyPair {
  const secretKey = x25519.utils.randomSecretKey();
  return { secretKey, publicKeyBase64: toBase64(x25519.getPublicKey(secretKey)) };
}

/** One connection's symmetric keys, from CONNACK's server_key and salt. */
export class ClientCipher {
  private readonly key: Uint8Array;
  private readonly iv: Uint8Array;

  constructor(keys: ClientKeyPair, serverKeyBase64: string, salt: string) {
    const shared = x25519.getSharedSecret(keys.secretKey, fromBase64(serverKeyBase64));
    this.key = ascii(hex(md5(ascii(toBase64(shared)))).slice(0, 16));
    this.iv = ascii(salt.slice(0, 16));
  }

  private aesBase64(plain: Uint8Array): string {
    return toBase64(cbc(this.key, this.iv).encrypt(plain));
  }

  /** Wire payload: ASCII of base64(AES(plain)). */
  encrypt(plain: Uint8Array): Uint8Array {
    return ascii(this.aesBase64(plain));
  }

  decrypt(wire: Uint8Array): Uint8Array {
    return cbc(this.key, this.iv).decrypt(fromBase64(utf8Decoder.decode(wire)));
  }

  /** msg_key over the concatenated fields and the wire payload as text. */
  msgKey(fields: string, wire: Uint8Array): string {
    return hex(md5(ascii(this.aesBase64(utf8.encode(fields + utf8Decoder.decode(wire))))));
  }
}
