/**
 * Property tests: whatever bytes arrive, in whatever chunks, the decoder returns packets or throws
 * a ProtocolError about the input (never another error, never a hang), and valid packets survive
 * encode + stream decode at every version. FUZZ_RUNS (default 20000) and FUZZ_SEED pick the size
 * and the reproducible sequence; a failure prints the seed and path to replay it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { FrameDecoder, type Packet, PacketType, ProtocolError, ReasonCode, Setting, encodePacket } from "../../src/protocol/index.js";
import { plain } from "./fixtures.js";
import { VERSIONS, expectedAfterRoundTrip } from "./samples.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 20_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_501);
const TIMEOUT = 10 * 60_000;
/** Errors about the input. SystemError would mean the decoder wrapped a bug of its own. */
const INPUT_REASONS = new Set([ReasonCode.NotSupportHeader, ReasonCode.PayloadDecodeError]);

const u8 = fc.integer({ min: 0, max: 0xff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const id = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const i64 = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
const text = fc.string({ unit: "binary", maxLength: 24 });
const bytes = fc.uint8Array({ maxLength: 64 }).map((b) => new Uint8Array(b));
const flags = fc.record({ dup: fc.boolean(), syncOnce: fc.boolean(), redDot: fc.boolean(), noPersist: fc.boolean() });
const setting = fc.constantFrom(0, Setting.Topic, Setting.Stream, Setting.Receipt | Setting.Topic | Setting.Stream, 0xff);

const packet: fc.Arbitrary<Packet> = fc.oneof(
  fc.record({
    type: fc.constant(PacketType.CONNECT as const),
    version: u8,
    deviceFlag: u8,
    deviceId: text,
    uid: text,
    token: text,
    clientTimestamp: i64,
    clientKey: text,
  }),
  fc.record(
    {
      type: fc.constant(PacketType.CONNACK as const),
      hasServerVersion: fc.boolean(),
      serverVersion: fc.constantFrom(...VERSIONS),
      timeDiff: i64,
      reasonCode: u8,
      serverKey: text,
      salt: text,
      nodeId: id,
    },
    { requiredKeys: ["type", "hasServerVersion", "timeDiff", "reasonCode", "serverKey", "salt"] },
  ),
  fc.record(
    {
      type: fc.constant(PacketType.SEND as const),
      dup: fc.boolean(),
      syncOnce: fc.boolean(),
      redDot: fc.boolean(),
      noPersist: fc.boolean(),
      setting,
      clientSeq: u32,
      clientMsgNo: text,
      streamNo: text,
      channelId: text,
      channelType: u8,
      expire: u32,
      msgKey: text,
      topic: text,
      payload: bytes,
    },
    {
      requiredKeys: [
        "type",
        "dup",
        "syncOnce",
        "redDot",
        "noPersist",
        "setting",
        "clientSeq",
        "clientMsgNo",
        "channelId",
        "channelType",
        "msgKey",
        "payload",
      ],
    },
  ),
  fc.record(
    { type: fc.constant(PacketType.SENDACK as const), messageId: id, clientSeq: u32, messageSeq: u32, reasonCode: u8, clientMsgNo: text },
    { requiredKeys: ["type", "messageId", "clientSeq", "messageSeq", "reasonCode"] },
  ),
  fc.record(
    {
      type: fc.constant(PacketType.RECV as const),
      dup: fc.boolean(),
      syncOnce: fc.boolean(),
      redDot: fc.boolean(),
      noPersist: fc.boolean(),
      setting,
      msgKey: text,
      fromUid: text,
      channelId: text,
      channelType: u8,
      expire: u32,
      clientMsgNo: text,
      streamFlag: u8,
      streamNo: text,
      streamId: id,
      messageId: id,
      messageSeq: u32,
      timestamp: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      topic: text,
      payload: bytes,
    },
    {
      requiredKeys: [
        "type",
        "dup",
        "syncOnce",
        "redDot",
        "noPersist",
        "setting",
        "msgKey",
        "fromUid",
        "channelId",
        "channelType",
        "clientMsgNo",
        "messageId",
        "messageSeq",
        "timestamp",
        "payload",
      ],
    },
  ),
  flags.chain((f) =>
    fc.record({ type: fc.constant(PacketType.RECVACK as const), messageId: id, messageSeq: u32 }).map((p) => ({ ...f, ...p })),
  ),
  fc.constant({ type: PacketType.PING as const }),
  fc.constant({ type: PacketType.PONG as const }),
  fc.record({ type: fc.constant(PacketType.DISCONNECT as const), reasonCode: u8, reason: text }),
  fc.record({
    type: fc.constant(PacketType.SUB as const),
    setting: u8,
    subNo: text,
    channelId: text,
    channelType: u8,
    action: u8,
    param: text,
  }),
  fc.record({ type: fc.constant(PacketType.SUBACK as const), subNo: text, channelId: text, channelType: u8, action: u8, reasonCode: u8 }),
  fc.record({ type: fc.constant(PacketType.EVENT as const), id: text, eventType: text, timestamp: i64, data: bytes }),
);

/** Cut `data` at the given (arbitrary) points. */
function chunk(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let last = 0;
  for (const p of [...points, data.length]) {
    out.push(data.subarray(last, p));
    last = p;
  }
  return out;
}

/** Feeds chunks; returns the packets, or the ProtocolError. Anything else fails the property. */
function feed(chunks: Uint8Array[], options: { version: number; maxFrameSize?: number }): { packets: Packet[]; error?: ProtocolError } {
  const d = new FrameDecoder({ ...options, followHandshake: false });
  const packets: Packet[] = [];
  for (const c of chunks) {
    try {
      packets.push(...d.push(c));
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `not a ProtocolError: ${String(err)}`);
      assert.ok(INPUT_REASONS.has(err.reason), `reason ${err.reason}: ${err.message}`);
      assert.throws(() => d.push(Uint8Array.of(0x70)), ProtocolError, "dead after an error");
      return { packets, error: err };
    }
  }
  return { packets };
}

const version = fc.constantFrom(...VERSIONS);
const cuts = fc.array(fc.nat(), { maxLength: 8 });
const params = (runs: number) => ({ numRuns: runs, seed: SEED });

describe(`protocol fuzzing (FUZZ_RUNS=${RUNS}, FUZZ_SEED=${SEED})`, () => {
  test(`random bytes in random chunks: packets or ProtocolError (${RUNS} runs)`, { timeout: TIMEOUT }, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), cuts, version, fc.constantFrom(64, 4096, 1 << 20), (data, c, v, max) => {
        const { packets } = feed(chunk(data, c), { version: v, maxFrameSize: max });
        assert.ok(packets.length <= data.length);
      }),
      params(RUNS),
    );
  });

  test(`valid packets round-trip through encode and the stream decoder in random chunks (${RUNS} runs)`, { timeout: TIMEOUT }, () => {
    fc.assert(
      fc.property(fc.array(packet, { minLength: 1, maxLength: 6 }), version, cuts, (ps, v, c) => {
        const wire = Buffer.concat(ps.map((p) => encodePacket(p, v)));
        const { packets, error } = feed(chunk(wire, c), { version: v });
        assert.equal(error, undefined, error?.message);
        assert.deepEqual(plain(packets), plain(ps.map((p) => expectedAfterRoundTrip(p, v))));
      }),
      params(RUNS),
    );
  });

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: u8 }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), value: u8 }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), value: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat(), value: fc.constant(0) }),
  );

  test(`mutated valid frames: packets or ProtocolError (${RUNS} runs)`, { timeout: TIMEOUT }, () => {
    fc.assert(
      fc.property(
        fc.array(packet, { minLength: 1, maxLength: 4 }),
        version,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        cuts,
        (ps, v, ms, c) => {
          let wire = Buffer.concat(ps.map((p) => encodePacket(p, v)));
          for (const m of ms) {
            const at = m.at % (wire.length + 1);
            if (m.kind === "flip" && at < wire.length) wire[at] ^= m.value || 1;
            if (m.kind === "insert") wire = Buffer.concat([wire.subarray(0, at), Uint8Array.of(m.value), wire.subarray(at)]);
            if (m.kind === "delete") wire = Buffer.concat([wire.subarray(0, at), wire.subarray(at + m.value)]);
            if (m.kind === "truncate") wire = wire.subarray(0, at);
          }
          const { packets } = feed(chunk(wire, c), { version: v, maxFrameSize: 1 << 16 });
          assert.ok(packets.length <= wire.length);
        },
      ),
      params(RUNS),
    );
  });
});
