import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  PacketType,
  ReasonCode,
  type RecvPacket,
  type SendPacket,
  decodeConnackBody,
  decodePacket,
  decodeSendBody,
  encodeConnack,
  encodePacket,
  encodePing,
  encodePong,
  encodeRecv,
  encodeRecvack,
  encodeSend,
  encodeSendack,
} from "../../src/protocol/index.js";
import { FIXTURES, hex, plain } from "./fixtures.js";
import { protocolError } from "./helpers.js";
import { VERSIONS, expectedAfterRoundTrip, samplePackets } from "./samples.js";

describe("byte fixtures from the reference layouts", () => {
  for (const f of FIXTURES) {
    test(`${f.name}: decodes`, () => {
      assert.deepEqual(plain(decodePacket(f.bytes, f.version)), plain(f.packet));
    });
    test(`${f.name}: encodes to the same bytes`, () => {
      assert.equal(encodePacket(f.packet, f.version).toString("hex"), f.bytes.toString("hex"));
    });
  }

  test("PING is 70 and PONG is 80, one byte each", () => {
    assert.deepEqual([...encodePing()], [0x70]);
    assert.deepEqual([...encodePong()], [0x80]);
  });

  test("the reference RECVACK example decodes; its id is beyond 2^53, so it cannot be re-encoded exactly", () => {
    const p = decodePacket(hex("62 0c 01b69b4ba630f34f 00000008"), 5);
    assert.equal(p.type, PacketType.RECVACK);
    if (p.type !== PacketType.RECVACK) return;
    assert.equal(p.redDot, true);
    assert.equal(p.dup || p.syncOnce || p.noPersist, false);
    assert.equal(p.messageSeq, 8);
    assert.equal(p.messageId, Number(0x01b69b4ba630f34fn));
    assert.throws(() => encodeRecvack(p, 5), protocolError(ReasonCode.SystemError, /safe integer/));
  });
});

describe("round trip of every packet kind at every version", () => {
  const samples = samplePackets();
  for (const version of VERSIONS) {
    test(`version ${version}: ${samples.length} packets`, () => {
      for (const p of samples) {
        const frame = encodePacket(p, version);
        assert.deepEqual(plain(decodePacket(frame, version)), plain(expectedAfterRoundTrip(p, version)), `type ${p.type} at v${version}`);
      }
    });
  }

  test("every packet type and every header flag is covered", () => {
    const types = new Set(samples.map((p) => p.type));
    for (let t = PacketType.CONNECT; t <= PacketType.EVENT; t++) assert.ok(types.has(t), `type ${t}`);
    for (const type of [PacketType.SEND, PacketType.RECV, PacketType.RECVACK]) {
      const headers = new Set(samples.filter((p) => p.type === type).map((p) => encodePacket(p, 5)[0] & 0x0f));
      assert.deepEqual(
        [...headers].sort((a, b) => a - b),
        [0, 1, 2, 4, 8, 15],
        `flags of type ${type}`,
      );
    }
  });
});

describe("version-conditional fields", () => {
  const send: SendPacket = {
    type: PacketType.SEND,
    dup: false,
    syncOnce: false,
    redDot: true,
    noPersist: false,
    setting: 0x02,
    clientSeq: 1,
    clientMsgNo: "m",
    streamNo: "abcd",
    channelId: "c",
    channelType: 1,
    expire: 9,
    msgKey: "k",
    payload: new Uint8Array([1]),
  };
  const recv: RecvPacket = {
    type: PacketType.RECV,
    dup: false,
    syncOnce: false,
    redDot: false,
    noPersist: false,
    setting: 0x02,
    msgKey: "k",
    fromUid: "a",
    channelId: "b",
    channelType: 1,
    expire: 9,
    clientMsgNo: "m",
    streamFlag: 1,
    streamNo: "abcd",
    streamId: 3,
    messageId: 1,
    messageSeq: 1,
    timestamp: 1,
    payload: new Uint8Array([1]),
  };
  const size = (f: (v: number) => Buffer) => VERSIONS.map((v) => f(v).length);

  test("SEND: expire (4) from v3, stream_no (2+4) only in v2..v4", () => {
    assert.deepEqual(
      size((v) => encodeSend(send, v)),
      [24, 28, 28, 22, 22],
    );
  });

  test("RECV: expire from v3, stream fields (1+6+8) only in v2..v4, u64 message_seq in v6", () => {
    assert.deepEqual(
      size((v) => encodeRecv(recv, v)),
      [48, 52, 52, 37, 41],
    );
  });

  test("SENDACK: u64 message_seq only in v6", () => {
    const ack = { type: PacketType.SENDACK, messageId: 1, clientSeq: 1, messageSeq: 1, reasonCode: 1 } as const;
    assert.deepEqual(
      size((v) => encodeSendack(ack, v)),
      [19, 19, 19, 19, 23],
    );
  });

  test("CONNACK: node_id from v4; server_version byte only with the header bit", () => {
    const base = { type: PacketType.CONNACK, timeDiff: 0, reasonCode: 1, serverKey: "", salt: "", nodeId: 1 } as const;
    assert.deepEqual(
      size((v) => encodeConnack({ ...base, hasServerVersion: false }, v)),
      [15, 15, 23, 23, 23],
    );
    assert.deepEqual(
      size((v) => encodeConnack({ ...base, hasServerVersion: true }, v)),
      [16, 16, 24, 24, 24],
    );
    assert.equal(encodeConnack({ ...base, hasServerVersion: true }, 5)[0], 0x21);
    assert.equal(encodeConnack({ ...base, hasServerVersion: false }, 5)[0], 0x20);
  });

  test("CONNACK: a server_version in the body decides the layout, whatever version the client assumed", () => {
    const frame = encodeConnack(
      { type: PacketType.CONNACK, hasServerVersion: true, serverVersion: 3, timeDiff: 0, reasonCode: 1, serverKey: "", salt: "" },
      5,
    );
    const p = decodePacket(frame, 5);
    assert.equal(p.type === PacketType.CONNACK && p.nodeId, undefined);
    const body = frame.subarray(2);
    assert.equal(decodeConnackBody(body, 0x01, 5).serverVersion, 3);
    // Without the header bit the same body misparses: the flag is what announces server_version.
    assert.throws(() => decodeConnackBody(body, 0x00, 3), protocolError(ReasonCode.PayloadDecodeError));
  });

  test("the same SEND body read at the wrong version gives different fields (the version matters)", () => {
    const frame = encodeSend({ ...send, setting: 0 }, 2);
    const body = frame.subarray(2);
    assert.equal(decodeSendBody(body, 0, 2).msgKey, "k");
    assert.throws(() => decodeSendBody(body, 0, 3), protocolError());
  });
});

describe("encode and decode refuse bad input", () => {
  test("unsupported versions", () => {
    for (const v of [0, 1, 7, 2.5, -1]) {
      assert.throws(
        () => encodePacket({ type: PacketType.DISCONNECT, reasonCode: 0, reason: "" }, v),
        protocolError(ReasonCode.NotSupportHeader),
      );
      assert.throws(() => decodePacket(hex("90 03 00 00 00"), v), protocolError(ReasonCode.NotSupportHeader));
    }
  });

  test("values that do not fit their field", () => {
    const ack = { type: PacketType.SENDACK, messageId: 1, clientSeq: 1, messageSeq: 1, reasonCode: 1 } as const;
    assert.throws(() => encodeSendack({ ...ack, clientSeq: 2 ** 32 }, 5), protocolError(ReasonCode.SystemError));
    assert.throws(() => encodeSendack({ ...ack, clientSeq: -1 }, 5), protocolError(ReasonCode.SystemError));
    assert.throws(() => encodeSendack({ ...ack, messageSeq: 2 ** 32 }, 5), protocolError(ReasonCode.SystemError));
    assert.equal(encodeSendack({ ...ack, messageSeq: 2 ** 32 }, 6).length, 23);
    assert.throws(() => encodeSendack({ ...ack, messageId: 2 ** 53 }, 5), protocolError(ReasonCode.SystemError));
    assert.throws(() => encodeSendack({ ...ack, reasonCode: 256 }, 5), protocolError(ReasonCode.SystemError));
    assert.throws(() => encodeSendack({ ...ack, messageId: 1.5 }, 5), protocolError(ReasonCode.SystemError));
    assert.throws(
      () => encodePacket({ type: PacketType.DISCONNECT, reasonCode: 0, reason: "x".repeat(32_768) }, 5),
      protocolError(ReasonCode.SystemError, /32767/),
    );
  });

  test("decodePacket wants exactly one frame", () => {
    assert.throws(() => decodePacket(hex("40 11 00"), 5), protocolError(ReasonCode.PayloadDecodeError, /truncated/));
    assert.throws(() => decodePacket(hex("40"), 5), protocolError(ReasonCode.PayloadDecodeError, /truncated/));
    assert.throws(() => decodePacket(hex(""), 5), protocolError(ReasonCode.PayloadDecodeError));
    assert.throws(() => decodePacket(hex("70 70"), 5), protocolError(ReasonCode.PayloadDecodeError, /after the frame/));
  });

  test("unknown packet types 0 and 13..15", () => {
    for (const b of ["00", "0f", "d0", "e1", "f0"]) {
      assert.throws(() => decodePacket(hex(`${b} 00`), 5), protocolError(ReasonCode.NotSupportHeader, /unknown packet type/));
    }
  });

  test("negative string length, and strings that are not UTF-8", () => {
    assert.throws(() => decodePacket(hex("90 03 0c ffff"), 5), protocolError(ReasonCode.PayloadDecodeError, /negative string length/));
    assert.throws(() => decodePacket(hex("90 03 0c 8000"), 5), protocolError(ReasonCode.PayloadDecodeError, /negative/));
    assert.throws(() => decodePacket(hex("90 05 0c 0002 c328"), 5), protocolError(ReasonCode.PayloadDecodeError, /UTF-8/));
    const p = decodePacket(hex("90 05 0c 0002 c3a9"), 5);
    assert.equal(p.type === PacketType.DISCONNECT && p.reason, "é");
  });

  test("a string longer than the frame", () => {
    assert.throws(() => decodePacket(hex("90 05 0c 0009 4142"), 5), protocolError(ReasonCode.PayloadDecodeError, /truncated body/));
  });

  test("a 5-byte length varint", () => {
    assert.throws(() => decodePacket(hex("30 ff ff ff ff 01"), 5), protocolError(ReasonCode.NotSupportHeader, /4 bytes/));
  });
});
