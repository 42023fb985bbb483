import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  CLUSTER_PROTOCOL_VERSION,
  type ClusterMessage,
  ClusterProtocolError,
  type DeliverMessage,
  decodeClusterMessage,
  deliverMessage,
  encodeClusterMessage,
} from "../../src/cluster/cluster-protocol.js";
import type { StoredMessage } from "../../src/store/message-store.js";
import { SwitchboardError } from "../../src/util/errors.js";

/** Seeded so a failure replays; fast-check prints the seed and the shrunk case. */
const FC = { seed: 20_250_101, numRuns: 500 };

const stored: StoredMessage = {
  messageId: 2 ** 53 - 1,
  messageSeq: 42,
  clientMsgNo: "cmn-1",
  fromUid: "alice",
  channelId: "alice@bob",
  channelType: 1,
  header: { noPersist: false, redDot: true, syncOnce: false },
  setting: 0b1010,
  expire: 3600,
  topic: "",
  timestamp: 1_700_000_000,
  payload: new TextEncoder().encode("héllo 👋"),
};

/** Payloads compared by bytes: decode gives a Buffer view, tests build Uint8Arrays. */
function normalize(msg: ClusterMessage): unknown {
  return msg.type === "deliver" ? { ...msg, payload: [...msg.payload] } : msg;
}

function roundTrip(msg: ClusterMessage): ClusterMessage {
  return decodeClusterMessage(encodeClusterMessage(msg));
}

/** Decoding must give a message or a ClusterProtocolError — never anything else. */
function decodesOrRefuses(bytes: Uint8Array): boolean {
  try {
    decodeClusterMessage(bytes);
    return true;
  } catch (err) {
    if (err instanceof ClusterProtocolError) return true;
    throw err;
  }
}

const safeInt = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const u8 = fc.integer({ min: 0, max: 255 });
const text = fc.string({ unit: "binary", maxLength: 40 });
const arbDeliver: fc.Arbitrary<DeliverMessage> = fc
  .record({
    messageId: safeInt,
    messageSeq: safeInt,
    clientMsgNo: text,
    fromUid: text,
    channelId: text,
    channelType: u8,
    header: fc.record({ noPersist: fc.boolean(), redDot: fc.boolean(), syncOnce: fc.boolean() }),
    setting: u8,
    expire: fc.integer({ min: 0, max: 0xffffffff }),
    topic: text,
    timestamp: safeInt,
    payload: fc.uint8Array({ maxLength: 300 }),
    uids: fc.array(text, { maxLength: 20 }),
    all: fc.boolean(),
    skipNodes: fc.array(text, { maxLength: 4 }),
  })
  .map(({ all, skipNodes, ...m }) => deliverMessage(m, m.uids, { all: all ? true : undefined, skipNodes }));
const arbMessage: fc.Arbitrary<ClusterMessage> = fc.oneof(
  arbDeliver,
  fc.record({ type: fc.constant("kick" as const), uid: text, deviceFlag: u8, exceptEpoch: safeInt, reason: text }),
  fc.record({ type: fc.constant("canary" as const), fromNode: text, id: safeInt, sentAt: safeInt }),
);

describe("cluster protocol: round trips", () => {
  test("deliver to a list of uids", () => {
    const msg = deliverMessage(stored, ["bob", "bob-2", "用户"]);
    assert.deepEqual(normalize(roundTrip(msg)), normalize(msg));
  });

  test("deliver in broadcast form, with header bits and nodes to skip", () => {
    const msg = deliverMessage({ ...stored, header: { noPersist: true, redDot: false, syncOnce: true } }, ["a", "b"], {
      all: true,
      skipNodes: ["node-1"],
    });
    const back = roundTrip(msg) as DeliverMessage;
    assert.deepEqual(normalize(back), normalize(msg));
    assert.equal(back.all, true);
    assert.deepEqual(back.skipNodes, ["node-1"]);
  });

  test("deliver with an empty payload, no uids and no optional parts leaves them out", () => {
    const msg = deliverMessage({ ...stored, payload: new Uint8Array(0) }, []);
    const back = roundTrip(msg) as DeliverMessage;
    assert.equal(back.payload.byteLength, 0);
    assert.deepEqual(back.uids, []);
    assert.equal("all" in back, false);
    assert.equal("skipNodes" in back, false);
  });

  test("the decoded message is a StoredMessage plus uids", () => {
    const { type, uids, all, skipNodes, ...message } = roundTrip(deliverMessage(stored, ["bob"])) as DeliverMessage;
    assert.deepEqual({ ...message, payload: [...message.payload] }, { ...stored, payload: [...stored.payload] });
    assert.equal(type, "deliver");
    assert.deepEqual(uids, ["bob"]);
    assert.equal(all ?? skipNodes, undefined);
  });

  test("kick and canary", () => {
    const kick: ClusterMessage = { type: "kick", uid: "alice", deviceFlag: 1, exceptEpoch: 77, reason: "logged in elsewhere" };
    const canary: ClusterMessage = { type: "canary", fromNode: "node-2", id: 9, sentAt: 1_700_000_000_123 };
    assert.deepEqual(roundTrip(kick), kick);
    assert.deepEqual(roundTrip(canary), canary);
  });

  test("frames are compact: a deliver to one uid costs little beyond its strings and payload", () => {
    const frame = encodeClusterMessage(deliverMessage(stored, ["bob"]));
    const strings = ["cmn-1", "alice", "alice@bob", "", "bob"].reduce((n, s) => n + 1 + Buffer.byteLength(s), 0);
    assert.ok(frame.length <= 3 + 8 + 1 + 1 + 1 + 2 + 5 + strings + 1 + stored.payload.length + 1, `${frame.length} bytes`);
  });

  test("any message survives encode then decode (fast-check)", () => {
    fc.assert(
      fc.property(arbMessage, (msg) => {
        assert.deepEqual(normalize(roundTrip(msg)), normalize(msg));
      }),
      FC,
    );
  });

  test("decoding a Uint8Array view at an offset works like a Buffer", () => {
    const frame = encodeClusterMessage({ type: "canary", fromNode: "n", id: 1, sentAt: 2 });
    const padded = new Uint8Array(frame.length + 10);
    padded.set(frame, 5);
    assert.deepEqual(decodeClusterMessage(padded.subarray(5, 5 + frame.length)), { type: "canary", fromNode: "n", id: 1, sentAt: 2 });
  });
});

describe("cluster protocol: bad bytes", () => {
  const refuses = (bytes: Uint8Array | number[], pattern: RegExp) =>
    assert.throws(
      () => decodeClusterMessage(Uint8Array.from(bytes)),
      (err: unknown) => {
        assert.ok(err instanceof ClusterProtocolError, `ClusterProtocolError, got ${err}`);
        assert.ok(err instanceof SwitchboardError);
        assert.equal(err.code, "bad_cluster_frame");
        assert.match(err.message, pattern);
        return true;
      },
    );

  test("empty, wrong version, unknown type", () => {
    refuses([], /truncated/);
    refuses([CLUSTER_PROTOCOL_VERSION + 1, 1], /version/);
    refuses([CLUSTER_PROTOCOL_VERSION, 99], /unknown cluster message type 99/);
  });

  test("unknown deliver flags", () => {
    const frame = encodeClusterMessage(deliverMessage(stored, ["bob"]));
    frame[2] |= 0x80;
    refuses(frame, /flags/);
  });

  test("every truncation of a valid frame is refused", () => {
    for (const msg of [
      deliverMessage(stored, ["bob", "carol"], { all: true, skipNodes: ["n1"] }),
      { type: "kick", uid: "a", deviceFlag: 1, exceptEpoch: 300, reason: "r" } as const,
    ]) {
      const frame = encodeClusterMessage(msg);
      for (let n = 0; n < frame.length; n++) refuses(frame.subarray(0, n), /truncated|cannot fit/);
    }
  });

  test("trailing bytes are refused", () => {
    const frame = encodeClusterMessage({ type: "canary", fromNode: "n", id: 1, sentAt: 2 });
    refuses(Buffer.concat([frame, Buffer.from([0])]), /trailing/);
  });

  test("invalid UTF-8, oversized varints and impossible counts", () => {
    refuses([CLUSTER_PROTOCOL_VERSION, 3, 2, 0xc3, 0x28, 1, 1], /UTF-8/);
    refuses([CLUSTER_PROTOCOL_VERSION, 3, 1, 0x6e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], /longer than 8 bytes/);
    refuses([CLUSTER_PROTOCOL_VERSION, 3, 1, 0x6e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0], /exceeds 2\^53/);
    // A deliver claiming 2^40 uids in a few bytes is refused before anything is allocated.
    const frame = encodeClusterMessage(deliverMessage({ ...stored, payload: new Uint8Array(0) }, []));
    const head = frame.subarray(0, frame.length - 1);
    refuses(Buffer.concat([head, Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x20])]), /cannot fit/);
  });

  test("random bytes never crash the decoder (fast-check)", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), decodesOrRefuses), FC);
    // Random bytes behind a valid header reach the per-type decoders.
    const header = fc.constantFrom(1, 2, 3).map((t) => [CLUSTER_PROTOCOL_VERSION, t]);
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 200 }), (h, rest) => decodesOrRefuses(Uint8Array.from([...h, ...rest]))),
      FC,
    );
  });

  test("mutated valid frames decode or are refused, never crash (fast-check)", () => {
    fc.assert(
      fc.property(arbMessage, fc.nat(), fc.integer({ min: 1, max: 255 }), (msg, at, xor) => {
        const frame = Buffer.from(encodeClusterMessage(msg));
        frame[at % frame.length] ^= xor;
        return decodesOrRefuses(frame);
      }),
      FC,
    );
  });

  test("encoding refuses values the format cannot carry", () => {
    const bad = (over: Partial<DeliverMessage>) => () => encodeClusterMessage({ ...deliverMessage(stored, ["bob"]), ...over });
    assert.throws(bad({ messageId: -1 }), ClusterProtocolError);
    assert.throws(bad({ messageSeq: 1.5 }), ClusterProtocolError);
    assert.throws(bad({ timestamp: 2 ** 53 }), ClusterProtocolError);
    assert.throws(bad({ uids: [7 as unknown as string] }), ClusterProtocolError);
    assert.throws(bad({ payload: "text" as unknown as Uint8Array }), ClusterProtocolError);
    assert.throws(() => encodeClusterMessage({ type: "nope" } as unknown as ClusterMessage), ClusterProtocolError);
  });
});
