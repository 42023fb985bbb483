import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Reader, ReasonCode, Writer, readVarint, strSize, varintSize } from "../../src/protocol/index.js";
import { hex } from "./fixtures.js";
import { protocolError } from "./helpers.js";

function written(size: number, fill: (w: Writer) => void): string {
  const w = new Writer(size);
  fill(w);
  return w.finish().toString("hex");
}

describe("Writer", () => {
  test("integers are big-endian", () => {
    assert.equal(
      written(1 + 2 + 4 + 4 + 8 + 8, (w) => {
        w.u8(0xab);
        w.u16(0x1234);
        w.u32(0xdeadbeef);
        w.i32(-2);
        w.i64(-2);
        w.u64(2 ** 53 - 1);
      }),
      "ab1234deadbeeffffffffefffffffffffffffe001fffffffffffff",
    );
  });

  test("strings are an i16 length then UTF-8", () => {
    assert.equal(
      written(strSize("") + strSize("é✓"), (w) => {
        w.str("");
        w.str("é✓");
      }),
      "0000" + "0005c3a9e29c93",
    );
  });

  test("varints at every size boundary (MQTT)", () => {
    const cases: [number, string][] = [
      [0, "00"],
      [127, "7f"],
      [128, "8001"],
      [16_383, "ff7f"],
      [16_384, "808001"],
      [2_097_151, "ffff7f"],
      [2_097_152, "80808001"],
      [268_435_455, "ffffff7f"],
    ];
    for (const [n, h] of cases) {
      assert.equal(varintSize(n), h.length / 2, `size of ${n}`);
      assert.equal(
        written(h.length / 2, (w) => w.varint(n)),
        h,
        `varint ${n}`,
      );
      assert.deepEqual(readVarint(hex(h), 0, h.length / 2), [n, h.length / 2]);
    }
    assert.throws(() => varintSize(268_435_456), protocolError(ReasonCode.SystemError));
    assert.throws(() => varintSize(-1), protocolError(ReasonCode.SystemError));
  });

  test("out-of-range values are refused, never truncated", () => {
    const w = new Writer(16);
    assert.throws(() => w.u8(256), protocolError(ReasonCode.SystemError));
    assert.throws(() => w.u16(-1), protocolError(ReasonCode.SystemError));
    assert.throws(() => w.u32(2 ** 32), protocolError(ReasonCode.SystemError));
    assert.throws(() => w.i32(2 ** 31), protocolError(ReasonCode.SystemError));
    assert.throws(() => w.i64(2 ** 53), protocolError(ReasonCode.SystemError));
    assert.throws(() => w.u64(-1), protocolError(ReasonCode.SystemError));
    assert.throws(() => strSize("é".repeat(16_384)), protocolError(ReasonCode.SystemError, /32767/));
    assert.equal(strSize("x".repeat(32_767)), 32_769);
  });

  test("finish() catches an encoder that mis-sized its frame", () => {
    const w = new Writer(3);
    w.u8(1);
    assert.throws(() => w.finish(), protocolError(ReasonCode.SystemError, /wrote 1 of 3/));
  });
});

describe("Reader", () => {
  test("reads what Writer wrote", () => {
    const w = new Writer(1 + 2 + 4 + 4 + 8 + 8 + strSize("héllo") + 3);
    w.u8(200);
    w.u16(65_535);
    w.u32(4_000_000_000);
    w.i32(-5);
    w.i64(-(2 ** 40));
    w.u64(2 ** 52 + 3);
    w.str("héllo");
    w.bytes(new Uint8Array([7, 8, 9]));
    const r = new Reader(w.finish());
    assert.equal(r.u8(), 200);
    assert.equal(r.u16(), 65_535);
    assert.equal(r.u32(), 4_000_000_000);
    assert.equal(r.i32(), -5);
    assert.equal(r.i64(), -(2 ** 40));
    assert.equal(r.u64(), 2 ** 52 + 3);
    assert.equal(r.str(), "héllo");
    assert.deepEqual([...r.rest()], [7, 8, 9]);
    assert.equal(r.remaining, 0);
  });

  test("i16 and i64 are signed, u64 is not", () => {
    const r = new Reader(hex("ffff ffffffffffffffff ffffffffffffffff"));
    assert.equal(r.i16(), -1);
    assert.equal(r.i64(), -1);
    assert.equal(r.u64(), 2 ** 64 - 1);
  });

  test("every read stops at the frame end, not the buffer end", () => {
    const buf = hex("01 02 03 04 05 06 07 08 09");
    const reads: ((r: Reader) => unknown)[] = [
      (r) => r.u8(),
      (r) => r.u16(),
      (r) => r.u32(),
      (r) => r.i64(),
      (r) => r.str(),
      (r) => r.bytes(1),
    ];
    for (const read of reads) {
      const r = new Reader(buf, 2, 2);
      assert.throws(() => read(r), protocolError(ReasonCode.PayloadDecodeError, /truncated/));
    }
    const r = new Reader(buf, 1, 4);
    assert.deepEqual([...r.rest()], [2, 3, 4]);
  });

  test("a negative string length is an error, an empty string is 00 00", () => {
    assert.throws(() => new Reader(hex("fffe")).str(), protocolError(ReasonCode.PayloadDecodeError, /negative/));
    assert.equal(new Reader(hex("0000")).str(), "");
  });

  test("bytes() and rest() are views, not copies", () => {
    const buf = hex("0a0b0c");
    const v = new Reader(buf).rest();
    buf[0] = 0xff;
    assert.equal(v[0], 0xff);
  });
});

describe("readVarint", () => {
  test("undefined while the varint is incomplete", () => {
    assert.equal(readVarint(hex(""), 0, 0), undefined);
    assert.equal(readVarint(hex("80"), 0, 1), undefined);
    assert.equal(readVarint(hex("ffffff"), 0, 3), undefined);
  });

  test("a continuation bit on the 4th byte is an error", () => {
    assert.throws(() => readVarint(hex("ffffffff"), 0, 4), protocolError(ReasonCode.NotSupportHeader, /4 bytes/));
    assert.throws(() => readVarint(hex("ffffff80 00"), 0, 5), protocolError(ReasonCode.NotSupportHeader));
  });

  test("accepts non-minimal encodings like other MQTT decoders", () => {
    assert.deepEqual(readVarint(hex("8000"), 0, 2), [0, 2]);
  });
});
