/**
 * WuKongIM payload encryption (docs/protocol.md "Encryption"): an X25519 exchange in
 * CONNECT/CONNACK gives a per-connection AES-128-CBC key; the IV is the 16-char salt, fixed for
 * the session. Payloads travel as base64 text of the ciphertext; msg_key is a hex MD5 over the
 * packet's fields, so a tampered packet is detected. Obfuscation and tamper detection, not E2E.
 */
import {
  type KeyObject,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
} from "node:crypto";
import { asBuffer } from "./bytes.js";
import { ReasonCode } from "./constants.js";
import { ProtocolError } from "./errors.js";
import type { RecvPacket } from "./recv.js";
import type { SendPacket } from "./send.js";

/** One connection's keys, the same shape on the server and on a client. */
export interface CryptoSession {
  /** base64 of the server's X25519 public key (CONNACK server_key). */
  readonly serverKeyBase64: string;
  /** 16 chars of [A-Za-z0-9] (CONNACK salt). */
  readonly salt: string;
  /** 16 ASCII bytes: the first 16 hex chars of MD5(base64(shared secret)). */
  readonly aesKey: Buffer;
  /** 16 ASCII bytes: the salt. */
  readonly iv: Buffer;
}

export interface X25519KeyPair {
  privateKey: KeyObject;
  /** Raw 32-byte public key. */
  publicKey: Buffer;
}

export interface ClientKeys extends X25519KeyPair {
  /** What CONNECT carries as client_key. */
  publicKeyBase64: string;
}

const ALGORITHM = "aes-128-cbc";
const SALT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/** Canonical padded base64 of 32 bytes. */
const KEY_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const BASE64_TEXT = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** PKCS#8 DER prefix of an X25519 private key; the raw 32 bytes follow. */
const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

export function generateX25519KeyPair(): X25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  return { privateKey, publicKey: rawPublicKey(publicKey) };
}

/** Client side: a key pair whose public half goes into CONNECT. */
export function createClientKeys(): ClientKeys {
  const pair = generateX25519KeyPair();
  return { ...pair, publicKeyBase64: pair.publicKey.toString("base64") };
}

/** Imports a raw 32-byte X25519 private key (e.g. one made by another library). */
export function x25519PrivateKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.byteLength !== 32) throw new ProtocolError(ReasonCode.AuthFail, `X25519 private key must be 32 bytes, got ${raw.byteLength}`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: "der", type: "pkcs8" });
}

export interface DeriveOptions {
  /** Server key pair to use instead of a fresh one (tests, known-answer vectors). */
  keyPair?: X25519KeyPair;
  /** Salt to use instead of a random one (tests). */
  salt?: string;
}

/**
 * Server side of the handshake, from CONNECT's client_key. A fresh key pair per connection, as
 * WuKongIM does. Throws ProtocolError(ClientKeyIsEmpty) for an empty key, AuthFail for a bad one.
 */
export function deriveSession(clientKeyBase64: string, options: DeriveOptions = {}): CryptoSession {
  if (clientKeyBase64 === "") throw new ProtocolError(ReasonCode.ClientKeyIsEmpty, "client_key is empty");
  const clientPublic = parsePublicKey(clientKeyBase64, "client_key");
  const pair = options.keyPair ?? generateX25519KeyPair();
  const salt = options.salt ?? randomSalt();
  return makeSession(sharedSecret(pair.privateKey, clientPublic), pair.publicKey.toString("base64"), salt);
}

/** Client side, from CONNACK's server_key and salt. The SDK takes the first 16 chars of a longer salt. */
export function deriveClientSession(clientPrivate: KeyObject | Uint8Array, serverKeyBase64: string, salt: string): CryptoSession {
  const priv = clientPrivate instanceof Uint8Array ? x25519PrivateKeyFromRaw(clientPrivate) : clientPrivate;
  if (salt.length < 16) throw new ProtocolError(ReasonCode.AuthFail, `salt must have 16 chars, got ${salt.length}`);
  const serverPublic = parsePublicKey(serverKeyBase64, "server_key");
  return makeSession(sharedSecret(priv, serverPublic), serverKeyBase64, salt.slice(0, 16));
}

/** 16 random chars of [A-Za-z0-9], unbiased (bytes ≥ 248 are redrawn so 62 divides evenly). */
export function randomSalt(): string {
  let out = "";
  while (out.length < 16) {
    for (const b of randomBytes(24)) {
      if (b < 248 && out.length < 16) out += SALT_ALPHABET[b % 62];
    }
  }
  return out;
}

/** wire = ASCII(base64(AES-128-CBC-PKCS7(plain))). */
export function encryptPayload(session: CryptoSession, plain: Uint8Array): Buffer {
  return Buffer.from(aesBase64(session, plain), "latin1");
}

/** The inverse of encryptPayload; anything malformed throws ProtocolError(PayloadDecodeError). */
export function decryptPayload(session: CryptoSession, wire: Uint8Array): Buffer {
  const text = asBuffer(wire).toString("latin1");
  // Node's base64 decoder skips junk silently; insist on canonical text so tampering shows.
  if (text.length === 0 || !BASE64_TEXT.test(text)) throw payloadError("payload is not base64 text");
  try {
    const decipher = createDecipheriv(ALGORITHM, session.aesKey, session.iv);
    return Buffer.concat([decipher.update(Buffer.from(text, "base64")), decipher.final()]);
  } catch (err) {
    throw new ProtocolError(ReasonCode.PayloadDecodeError, "payload does not decrypt", { cause: err });
  }
}

/** SEND msg_key over `${client_seq}${client_msg_no}${channel_id}${channel_type}${wire payload}`. */
export function sendMsgKey(
  session: CryptoSession,
  p: Pick<SendPacket, "clientSeq" | "clientMsgNo" | "channelId" | "channelType" | "payload">,
): string {
  return msgKey(session, `${p.clientSeq}${p.clientMsgNo}${p.channelId}${p.channelType}${payloadText(p.payload)}`);
}

/** RECV msg_key over `${message_id}${message_seq}${client_msg_no}${timestamp}${from_uid}${channel_id}${channel_type}${wire payload}`. */
export function recvMsgKey(
  session: CryptoSession,
  p: Pick<RecvPacket, "messageId" | "messageSeq" | "clientMsgNo" | "timestamp" | "fromUid" | "channelId" | "channelType" | "payload">,
): string {
  const fields = `${p.messageId}${p.messageSeq}${p.clientMsgNo}${p.timestamp}${p.fromUid}${p.channelId}${p.channelType}`;
  return msgKey(session, fields + payloadText(p.payload));
}

/** hex(MD5(base64(AES(utf8(text))))) — the formula both SDK and server use. */
function msgKey(session: CryptoSession, text: string): string {
  return createHash("md5")
    .update(aesBase64(session, Buffer.from(text, "utf8")), "latin1")
    .digest("hex");
}

function aesBase64(session: CryptoSession, plain: Uint8Array): string {
  const cipher = createCipheriv(ALGORITHM, session.aesKey, session.iv);
  return Buffer.concat([cipher.update(plain), cipher.final()]).toString("base64");
}

/** The SDK turns the payload into a JS string by UTF-8 decoding it; do the same. */
function payloadText(payload: Uint8Array): string {
  return asBuffer(payload).toString("utf8");
}

function makeSession(shared: Buffer, serverKeyBase64: string, salt: string): CryptoSession {
  const digest = createHash("md5").update(shared.toString("base64"), "latin1").digest("hex");
  return { serverKeyBase64, salt, aesKey: Buffer.from(digest.slice(0, 16), "latin1"), iv: Buffer.from(salt, "latin1") };
}

function sharedSecret(priv: KeyObject, pub: KeyObject): Buffer {
  try {
    return diffieHellman({ privateKey: priv, publicKey: pub });
  } catch (err) {
    // OpenSSL refuses low-order points (an all-zero shared secret).
    throw new ProtocolError(ReasonCode.AuthFail, "key exchange failed: the peer's public key is unusable", { cause: err });
  }
}

function parsePublicKey(base64: string, what: string): KeyObject {
  if (!KEY_BASE64.test(base64)) throw new ProtocolError(ReasonCode.AuthFail, `${what} is not the base64 of a 32-byte X25519 key`);
  const raw = Buffer.from(base64, "base64");
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: raw.toString("base64url") }, format: "jwk" });
}

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: "jwk" });
  if (typeof jwk.x !== "string") throw new Error("X25519 JWK export has no x");
  return Buffer.from(jwk.x, "base64url");
}

function payloadError(message: string): ProtocolError {
  return new ProtocolError(ReasonCode.PayloadDecodeError, message);
}
