import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type ConnectPacket,
  FrameDecoder,
  LATEST_VERSION,
  type Packet,
  PacketType,
  ReasonCode,
  type SendPacket,
  encodeConnack,
  encodeConnect,
  encodePacket,
  encodeRecv,
  encodeSend,
} from "../../src/protocol/index.js";
import { FIXTURES, hex, plain } from "./fixtures.js";
import { protocolError } from "./helpers.js";

function decodeChunks(chunks: Uint8Array[], version: number): Packet[] {
  const d = new FrameDecoder({ version, followHandshake: false });
  const out = chunks.flatMap((c) => d.push(c));
  assert.equal(d.buffered, 0, "nothing left over");
  return out;
}

describe("FrameDecoder: fixtures split anywhere", () => {
  for (const f of FIXTURES) {
    // The 20 kB fixture: every position near the header and the ends, every 97th elsewhere.
    const positions = [...Array(f.bytes.length + 1).keys()].filter(
      (i) => f.bytes.length < 1000 || i < 64 || f.bytes.length - i < 16 || i % 97 === 0,
    );
    const every = positions.length === f.bytes.length + 1 ? "every position" : `${positions.length} positions`;
    test(`${f.name} (${f.bytes.length} bytes): split at ${every}`, () => {
      const want = plain([f.packet]);
      for (const i of positions) {
        const got = decodeChunks([f.bytes.subarray(0, i), f.bytes.subarray(i)], f.version);
        assert.deepEqual(plain(got), want, `split at ${i}`);
      }
    });

    test(`${f.name}: byte by byte`, () => {
      const chunks = [...f.bytes].map((b) => Uint8Array.of(b));
      assert.deepEqual(plain(decodeChunks(chunks, f.version)), plain([f.packet]));
    });

    if (f.bytes.length <= 80) {
      test(`${f.name}: split in three at every pair of positions`, () => {
        const want = plain([f.packet]);
        for (let i = 0; i <= f.bytes.length; i++) {
          for (let j = i; j <= f.bytes.length; j++) {
            const got = decodeChunks([f.bytes.subarray(0, i), f.bytes.subarray(i, j), f.bytes.subarray(j)], f.version);
            assert.deepEqual(plain(got), want, `split at ${i} and ${j}`);
          }
        }
      });
    }
  }
});

describe("FrameDecoder: glued frames", () => {
  for (const version of [2, 3, 4, 5, 6]) {
    const group = FIXTURES.filter((f) => f.version === version);
    if (group.length === 0) continue;
    test(`v${version}: ${group.length} fixtures x 50 in one chunk, and in 7-byte chunks`, () => {
      const frames = Array.from({ length: 50 }, () => group).flat();
      const all = Buffer.concat(frames.map((f) => f.bytes));
      const want = plain(frames.map((f) => f.packet));
      assert.deepEqual(plain(decodeChunks([all], version)), want);
      const chunks: Buffer[] = [];
      for (let i = 0; i < all.length; i += 7) chunks.push(all.subarray(i, i + 7));
      assert.deepEqual(plain(decodeChunks(chunks, version)), want);
    });
  }

  test("PING/PONG one-byte frames between and around split frames", () => {
    const send = FIXTURES.find((f) => f.name.startsWith("SEND v5 receipt"))!;
    const stream = Buffer.concat([hex("70 70"), send.bytes, hex("80"), send.bytes, hex("70")]);
    const d = new FrameDecoder({ version: 5 });
    const got = [...d.push(stream.subarray(0, 5)), ...d.push(stream.subarray(5, 34)), ...d.push(stream.subarray(34))];
    assert.deepEqual(
      got.map((p) => p.type),
      [PacketType.PING, PacketType.PING, PacketType.SEND, PacketType.PONG, PacketType.SEND, PacketType.PING],
    );
  });

  test("a frame wholly inside a chunk is decoded in place; a split one is copied once", () => {
    const send = FIXTURES.find((f) => f.name.startsWith("SEND v5 with a 2-byte"))!;
    const chunk = Buffer.concat([send.bytes, send.bytes.subarray(0, 10)]);
    const d = new FrameDecoder({ version: 5 });
    const [first] = d.push(chunk) as SendPacket[];
    chunk[chunk.length - 11] = 0x7a; // the last payload byte of the first frame
    assert.equal(first.payload[first.payload.length - 1], 0x7a, "payload is a view on the pushed chunk");
    assert.equal(d.buffered, 10);
    const rest = Buffer.from(send.bytes.subarray(10));
    const [second] = d.push(rest) as SendPacket[];
    rest.fill(0);
    chunk.fill(0);
    assert.deepEqual(plain(second), plain(send.packet), "the split frame was copied out of both chunks");
  });

  test("a truncated frame waits, then completes", () => {
    const d = new FrameDecoder({ version: 5 });
    const f = FIXTURES.find((x) => x.name === "SENDACK v5")!;
    assert.deepEqual(d.push(f.bytes.subarray(0, 12)), []);
    assert.equal(d.buffered, 12);
    assert.deepEqual(d.push(new Uint8Array(0)), []);
    assert.deepEqual(plain(d.push(f.bytes.subarray(12))), plain([f.packet]));
    assert.equal(d.buffered, 0);
  });
});

describe("FrameDecoder: bad input", () => {
  test("garbage bytes", () => {
    for (const garbage of ["00 01 02 03", "70 80 e3 00", "16 03 01 02 00 01 00 01 fc 03 03"]) {
      // The last one is a TLS ClientHello on the plain port: a CONNECT header whose body does not parse.
      assert.throws(() => new FrameDecoder().push(hex(garbage)), protocolError(), garbage);
    }
    // Text that happens to look like a header ('G' = SENDACK, 'E' = length 69) waits for its body, bounded by maxFrameSize.
    assert.deepEqual(new FrameDecoder().push(Buffer.from("GET /")), []);
  });

  test("unknown packet types 0 and 13..15 fail on the first byte, without waiting for a length", () => {
    for (const b of [0x00, 0xd0, 0xe5, 0xff]) {
      assert.throws(() => new FrameDecoder().push(Uint8Array.of(b)), protocolError(ReasonCode.NotSupportHeader));
    }
    const d = new FrameDecoder();
    assert.equal(d.push(hex("70 40")).length, 1, "PING, then SENDACK header waiting for its length");
    assert.throws(() => new FrameDecoder().push(hex("70 f0")), protocolError(ReasonCode.NotSupportHeader));
  });

  test("a body whose fields run past its frame, although more bytes follow", () => {
    const d = new FrameDecoder({ version: 5 });
    // SENDACK with remaining length 5: message_id needs 8 bytes. The PINGs after it must not be read.
    assert.throws(() => d.push(hex("40 05 0000000001 70 70 70 70")), protocolError(ReasonCode.PayloadDecodeError, /truncated body/));
  });

  test("oversized length is refused before the body is buffered, also with the varint split", () => {
    assert.equal(new FrameDecoder({ maxFrameSize: 100 }).push(hex("90 64")).length, 0, "100 bytes is allowed");
    assert.throws(() => new FrameDecoder({ maxFrameSize: 100 }).push(hex("90 65")), protocolError(ReasonCode.NotSupportHeader, /exceeds/));
    const d = new FrameDecoder({ maxFrameSize: 100 });
    assert.deepEqual(d.push(hex("30 c8")), []);
    assert.throws(() => d.push(hex("01")), protocolError(ReasonCode.NotSupportHeader, /200 bytes exceeds the limit of 100/));
    assert.throws(
      () => new FrameDecoder().push(hex("30 ffff7f")),
      protocolError(ReasonCode.NotSupportHeader, /exceeds the limit of 1048576/),
    );
  });

  test("a header that claims 1 MiB does not make the decoder allocate 1 MiB", () => {
    const before = process.memoryUsage().arrayBuffers;
    const decoders = Array.from({ length: 100 }, () => {
      const d = new FrameDecoder();
      d.push(hex("30 ffff3f 00 01 02")); // remaining length 1,048,575, then 3 body bytes
      return d;
    });
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.equal(decoders[99].buffered, 7);
    assert.ok(grown < 10 * 1024 * 1024, `100 pending frames hold ${grown} bytes (eager allocation would be 100 MiB)`);
  });

  test("a 5-byte varint, whole or split", () => {
    assert.throws(() => new FrameDecoder().push(hex("30 ffffffff 01")), protocolError(ReasonCode.NotSupportHeader, /4 bytes/));
    const d = new FrameDecoder();
    assert.deepEqual(d.push(hex("30 ff")), []);
    assert.deepEqual(d.push(hex("ff ff")), []);
    assert.throws(() => d.push(hex("ff")), protocolError(ReasonCode.NotSupportHeader, /4 bytes/));
  });

  test("negative string length inside a frame", () => {
    assert.throws(() => new FrameDecoder().push(hex("90 03 0c 8001")), protocolError(ReasonCode.PayloadDecodeError, /negative/));
  });

  test("after an error the decoder is dead", () => {
    const d = new FrameDecoder();
    assert.throws(() => d.push(hex("00")), protocolError());
    assert.equal(d.failed, true);
    assert.throws(() => d.push(hex("70")), protocolError(ReasonCode.NotSupportHeader, /failed earlier/));
    assert.throws(() => d.push(new Uint8Array(0)), protocolError());
  });

  test("bad versions", () => {
    assert.throws(() => new FrameDecoder({ version: 1 }), protocolError(ReasonCode.NotSupportHeader));
    assert.throws(() => new FrameDecoder({ version: 7 }), protocolError(ReasonCode.NotSupportHeader));
    const d = new FrameDecoder();
    assert.throws(() => d.setVersion(0), protocolError(ReasonCode.NotSupportHeader));
    assert.equal(d.currentVersion, LATEST_VERSION);
    d.setVersion(3);
    assert.equal(d.currentVersion, 3);
  });
});

describe("FrameDecoder: versions follow the handshake", () => {
  const connect = (version: number): ConnectPacket => ({
    type: PacketType.CONNECT,
    version,
    deviceFlag: 1,
    deviceId: "d",
    uid: "u",
    token: "t",
    clientTimestamp: 1,
    clientKey: "k",
  });
  const send: SendPacket = {
    type: PacketType.SEND,
    dup: false,
    syncOnce: false,
    redDot: true,
    noPersist: false,
    setting: 0,
    clientSeq: 1,
    clientMsgNo: "m",
    channelId: "c",
    channelType: 1,
    msgKey: "k",
    payload: Buffer.from("hello"),
  };

  test("a v2 SEND glued behind a v2 CONNECT decodes at v2 before setVersion() is called", () => {
    const chunk = Buffer.concat([encodeConnect(connect(2), 5), encodeSend(send, 2)]);
    const d = new FrameDecoder();
    const [c, s] = d.push(chunk);
    assert.equal(c.type, PacketType.CONNECT);
    assert.deepEqual(plain(s), plain(send));
    assert.equal(d.currentVersion, 2);
    // Without following the handshake the same bytes are read as v5 and go wrong.
    const blind = new FrameDecoder({ followHandshake: false });
    assert.throws(() => blind.push(chunk), protocolError(ReasonCode.PayloadDecodeError));
  });

  test("CONNECT version 0 means latest, higher versions are capped, unsupported ones leave the version alone", () => {
    const cases: [number, number][] = [
      [0, 5],
      [9, 5],
      [4, 4],
      [1, 5],
    ];
    for (const [asked, got] of cases) {
      const d = new FrameDecoder();
      d.push(encodeConnect(connect(asked), 5));
      assert.equal(d.currentVersion, got, `CONNECT version ${asked}`);
    }
  });

  test("a client decoder adopts CONNACK's server_version", () => {
    const connack = encodeConnack(
      {
        type: PacketType.CONNACK,
        hasServerVersion: true,
        serverVersion: 4,
        timeDiff: 0,
        reasonCode: 1,
        serverKey: "",
        salt: "",
        nodeId: 1,
      },
      4,
    );
    const recv = encodeRecv(
      {
        type: PacketType.RECV,
        dup: false,
        syncOnce: false,
        redDot: false,
        noPersist: false,
        setting: 0,
        msgKey: "",
        fromUid: "a",
        channelId: "b",
        channelType: 1,
        expire: 5,
        clientMsgNo: "c",
        messageId: 1,
        messageSeq: 1,
        timestamp: 1,
        payload: new Uint8Array(0),
      },
      4,
    );
    const d = new FrameDecoder({ version: 5 });
    const [ack, r] = d.push(Buffer.concat([connack, recv]));
    assert.equal(ack.type === PacketType.CONNACK && ack.nodeId, 1);
    assert.equal(r.type === PacketType.RECV && r.expire, 5);
    assert.equal(d.currentVersion, 4);
  });

  test("encodePacket output of every fixture decodes through the stream decoder", () => {
    for (const f of FIXTURES) {
      const d = new FrameDecoder({ version: f.version, followHandshake: false });
      assert.deepEqual(plain(d.push(encodePacket(f.packet, f.version))), plain([f.packet]), f.name);
    }
  });
});
