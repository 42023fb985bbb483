import assert from "node:assert/strict";
import { createCipheriv, createHash } from "node:crypto";
import { describe, test } from "node:test";
import {
  type CryptoSession,
  PacketType,
  ReasonCode,
  type RecvPacket,
  type SendPacket,
  createClientKeys,
  decryptPayload,
  deriveClientSession,
  deriveSession,
  encryptPayload,
  randomSalt,
  recvMsgKey,
  sendMsgKey,
  x25519PrivateKeyFromRaw,
} from "../../src/protocol/index.js";
import { protocolError } from "./helpers.js";

// RFC 7748 §6.1 X25519 test vector.
const ALICE_PRIVATE = Buffer.from("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", "hex");
const ALICE_PUBLIC = Buffer.from("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", "hex");
const BOB_PRIVATE = Buffer.from("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", "hex");
const BOB_PUBLIC = Buffer.from("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", "hex");
const SHARED = Buffer.from("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", "hex");
const SALT = "Ab3dEf6hIj9kLm2n";

/** The server side with Bob's keys, the client side with Alice's: everything is deterministic. */
function fixedSessions(): { server: CryptoSession; client: CryptoSession } {
  const server = deriveSession(ALICE_PUBLIC.toString("base64"), {
    keyPair: { privateKey: x25519PrivateKeyFromRaw(BOB_PRIVATE), publicKey: BOB_PUBLIC },
    salt: SALT,
  });
  const client = deriveClientSession(ALICE_PRIVATE, BOB_PUBLIC.toString("base64"), SALT);
  return { server, client };
}

/** The reference formula, written out: hex(MD5(base64(AES-128-CBC(key, iv, utf8(text))))). */
function referenceMsgKey(aesKey: string, iv: string, textValue: string): string {
  const c = createCipheriv("aes-128-cbc", Buffer.from(aesKey, "latin1"), Buffer.from(iv, "latin1"));
  const b64 = Buffer.concat([c.update(textValue, "utf8"), c.final()]).toString("base64");
  return createHash("md5").update(b64).digest("hex");
}

describe("key agreement", () => {
  test("RFC 7748 vector: aesKey = first 16 hex chars of MD5(base64(shared)), iv = salt", () => {
    const { server, client } = fixedSessions();
    const expected = createHash("md5").update(SHARED.toString("base64")).digest("hex").slice(0, 16);
    assert.equal(server.aesKey.toString("latin1"), expected);
    assert.equal(client.aesKey.toString("latin1"), expected);
    assert.equal(server.iv.toString("latin1"), SALT);
    assert.equal(server.serverKeyBase64, BOB_PUBLIC.toString("base64"));
  });

  test("fresh keys: both sides agree; every session has its own key pair and salt", () => {
    const keys = createClientKeys();
    assert.equal(Buffer.from(keys.publicKeyBase64, "base64").length, 32);
    const a = deriveSession(keys.publicKeyBase64);
    const b = deriveSession(keys.publicKeyBase64);
    assert.match(a.salt, /^[A-Za-z0-9]{16}$/);
    assert.match(a.aesKey.toString("latin1"), /^[0-9a-f]{16}$/);
    assert.equal(Buffer.from(a.serverKeyBase64, "base64").length, 32);
    assert.notEqual(a.serverKeyBase64, b.serverKeyBase64);
    assert.notEqual(a.salt, b.salt);
    const client = deriveClientSession(keys.privateKey, a.serverKeyBase64, a.salt);
    assert.deepEqual(client.aesKey, a.aesKey);
    assert.deepEqual(client.iv, a.iv);
  });

  test("salts use the whole alphabet and nothing else", () => {
    const seen = new Set(Array.from({ length: 400 }, () => randomSalt()).join(""));
    assert.equal(seen.size, 62);
  });

  test("a client takes the first 16 chars of a longer salt and refuses a shorter one", () => {
    const s = deriveClientSession(ALICE_PRIVATE, BOB_PUBLIC.toString("base64"), `${SALT}XYZ`);
    assert.equal(s.iv.toString("latin1"), SALT);
    assert.throws(() => deriveClientSession(ALICE_PRIVATE, BOB_PUBLIC.toString("base64"), "short"), protocolError(ReasonCode.AuthFail));
  });

  test("bad client keys", () => {
    assert.throws(() => deriveSession(""), protocolError(ReasonCode.ClientKeyIsEmpty));
    const bad = [
      "abc",
      Buffer.alloc(31, 1).toString("base64"),
      Buffer.alloc(33, 1).toString("base64"),
      ALICE_PUBLIC.toString("base64url"),
      ALICE_PUBLIC.toString("base64").replace("=", ""),
      `${ALICE_PUBLIC.toString("base64")} `,
      ALICE_PUBLIC.toString("base64").replace(/.=$/, "B="), // non-canonical last char
    ];
    for (const key of bad) assert.throws(() => deriveSession(key), protocolError(ReasonCode.AuthFail), key);
    // A low-order point would make the shared secret all zeros.
    assert.throws(() => deriveSession(Buffer.alloc(32).toString("base64")), protocolError(ReasonCode.AuthFail, /unusable/));
    assert.throws(() => x25519PrivateKeyFromRaw(new Uint8Array(31)), protocolError(ReasonCode.AuthFail));
  });
});

describe("payload encryption", () => {
  test("wire = ASCII base64 of AES-128-CBC-PKCS7; round trip of non-ASCII and empty text", () => {
    const { server, client } = fixedSessions();
    for (const plainText of ["héllo 世界 🌍", "", "x".repeat(1000)]) {
      const wire = encryptPayload(client, Buffer.from(plainText));
      assert.match(wire.toString("latin1"), /^[A-Za-z0-9+/]+={0,2}$/);
      assert.equal(Buffer.from(wire.toString(), "base64").length % 16, 0);
      assert.equal(decryptPayload(server, wire).toString(), plainText);
    }
  });

  test("known answer: AES-128-CBC with the session key and the salt as IV", () => {
    const { server } = fixedSessions();
    const c = createCipheriv("aes-128-cbc", server.aesKey, Buffer.from(SALT));
    const expected = Buffer.concat([c.update("hello"), c.final()]).toString("base64");
    assert.equal(encryptPayload(server, Buffer.from("hello")).toString(), expected);
  });

  test("malformed or tampered payloads throw PayloadDecodeError", () => {
    const { server, client } = fixedSessions();
    const wire = encryptPayload(client, Buffer.from("some message text"));
    const lastBlockFlipped = Buffer.from(wire.toString(), "base64");
    lastBlockFlipped[lastBlockFlipped.length - 1] ^= 0x55;
    const cases = [
      Buffer.alloc(0),
      Buffer.from("not base64!"),
      Buffer.from(wire.toString().slice(0, -4)), // cut short: not whole blocks
      Buffer.from(lastBlockFlipped.toString("base64")),
      Buffer.from(`${wire.toString()}\n`),
      Buffer.from("AAAA"), // 3 bytes: not a whole block
    ];
    for (const c of cases) assert.throws(() => decryptPayload(server, c), protocolError(ReasonCode.PayloadDecodeError), c.toString());
    // Another key (fixed, so the check is deterministic: a random one passes the padding check 1 time in ~256).
    const bob = { privateKey: x25519PrivateKeyFromRaw(BOB_PRIVATE), publicKey: BOB_PUBLIC };
    const other = deriveSession(BOB_PUBLIC.toString("base64"), { keyPair: bob, salt: SALT });
    assert.notDeepEqual(other.aesKey, server.aesKey);
    assert.throws(() => decryptPayload(other, wire), protocolError(ReasonCode.PayloadDecodeError));
  });
});

describe("msg_key", () => {
  const { server, client } = fixedSessions();
  const key = server.aesKey.toString("latin1");
  const payload = encryptPayload(client, Buffer.from('{"type":1,"content":"hi ✓"}'));
  const send: SendPacket = {
    type: PacketType.SEND,
    dup: false,
    syncOnce: false,
    redDot: true,
    noPersist: false,
    setting: 0,
    clientSeq: 12,
    clientMsgNo: "a1b2_3",
    channelId: "用户B",
    channelType: 1,
    msgKey: "",
    payload,
  };
  const recv: RecvPacket = {
    type: PacketType.RECV,
    dup: false,
    syncOnce: false,
    redDot: true,
    noPersist: false,
    setting: 0,
    msgKey: "",
    fromUid: "alice",
    channelId: "bob",
    channelType: 1,
    clientMsgNo: "a1b2_3",
    messageId: 9_007_199_254_740_991,
    messageSeq: 77,
    timestamp: 1_700_000_000,
    payload,
  };

  test("SEND: over client_seq, client_msg_no, channel_id, channel_type and the encrypted payload", () => {
    const expected = referenceMsgKey(key, SALT, `12a1b2_3用户B1${payload.toString("latin1")}`);
    assert.equal(sendMsgKey(client, send), expected);
    assert.equal(sendMsgKey(server, send), expected);
    assert.match(expected, /^[0-9a-f]{32}$/);
  });

  test("RECV: over message_id, message_seq, client_msg_no, timestamp, from_uid, channel_id, channel_type and the payload", () => {
    const expected = referenceMsgKey(key, SALT, `900719925474099177a1b2_31700000000alicebob1${payload.toString("latin1")}`);
    assert.equal(recvMsgKey(server, recv), expected);
  });

  test("a tampered packet or msg_key is rejected", () => {
    const good = sendMsgKey(client, send);
    const signed = { ...send, msgKey: good };
    assert.equal(sendMsgKey(server, signed), signed.msgKey);
    const tampered = [
      { ...signed, msgKey: good.replace(/^./, (c) => (c === "0" ? "1" : "0")) },
      { ...signed, clientSeq: 13 },
      { ...signed, channelId: "someone-else" },
      { ...signed, channelType: 2 },
      { ...signed, clientMsgNo: "a1b2_4" },
      { ...signed, payload: encryptPayload(client, Buffer.from("other")) },
    ];
    for (const t of tampered) assert.notEqual(sendMsgKey(server, t), t.msgKey);
    const other = deriveSession(createClientKeys().publicKeyBase64, { salt: SALT });
    assert.notEqual(sendMsgKey(other, signed), signed.msgKey, "another session's key does not verify");
    const recvKey = recvMsgKey(server, recv);
    assert.notEqual(recvMsgKey(client, { ...recv, messageSeq: 78 }), recvKey);
    assert.notEqual(recvMsgKey(client, { ...recv, fromUid: "mallory" }), recvKey);
  });
});
