/** The SDK's inbox on its own: de-duplication, per-channel marks and gaps, holding live messages during a sync. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Inbox } from "../../src/client/inbox.js";
import type { ClientMessage, InboundMessage } from "../../src/client/types.js";

const msg = (seq: number, channelId = "bob", id = 1000 + seq): InboundMessage => ({
  messageId: id,
  messageSeq: seq,
  clientMsgNo: `c${id}`,
  fromUid: channelId,
  channelId,
  channelType: 1,
  timestamp: 0,
  payload: new TextEncoder().encode(`m${seq}`),
});

function inbox() {
  const shown: ClientMessage[] = [];
  return { box: new Inbox((m) => shown.push(m)), shown, seqs: () => shown.map((m) => m.messageSeq) };
}

describe("client inbox", () => {
  test("each message once: by id, and by seq at or below the channel's mark", () => {
    const { box, seqs } = inbox();
    assert.equal(box.live(msg(1)), false);
    box.live(msg(1));
    box.live(msg(2));
    box.live({ ...msg(2), messageId: 99 }); // same seq under another id: already covered
    assert.deepEqual(seqs(), [1, 2]);
    assert.deepEqual([...box.marks()], [["1:bob", 2]]);
  });

  test("a skipped seq is a gap until it arrives, or until our own SENDACK fills it", () => {
    const { box, seqs } = inbox();
    box.live(msg(1));
    assert.equal(box.live(msg(3)), true, "seq 2 is missing");
    assert.equal(box.hasGaps(), true);
    box.sent(1, "bob", 2002, 2); // it was ours
    assert.equal(box.hasGaps(), false);
    assert.deepEqual([...box.marks()], [["1:bob", 3]]);
    box.live(msg(2, "bob", 2002));
    assert.deepEqual(seqs(), [1, 3], "our own message is not shown back to us");
  });

  test("live messages wait while a sync runs, then follow what it found", () => {
    const { box, shown, seqs } = inbox();
    box.live(msg(1));
    box.hold();
    box.live(msg(5));
    box.live(msg(1, "carol", 3001));
    box.synced({ channelId: "bob", channelType: 1, lastSeq: 4, messages: [msg(2), msg(3), msg(4)] });
    assert.deepEqual(seqs(), [1, 2, 3, 4], "held back");
    assert.equal(box.release(true), false);
    assert.deepEqual(seqs(), [1, 2, 3, 4, 5, 1]);
    assert.deepEqual(
      shown.map((m) => m.synced),
      [false, true, true, true, false, false],
    );
  });

  test("a complete sync gives up gaps the server could not fill; channels never seen start where the sync says", () => {
    const { box, seqs } = inbox();
    box.live(msg(1));
    box.live(msg(4));
    box.hold();
    box.synced({ channelId: "dan", channelType: 1, lastSeq: 30, messages: [msg(29, "dan"), msg(30, "dan")] });
    assert.equal(box.release(true), false, "bob's 2 and 3 do not exist for us");
    assert.deepEqual(
      new Map(box.marks()),
      new Map([
        ["1:bob", 4],
        ["1:dan", 30],
      ]),
    );
    box.live(msg(5));
    assert.deepEqual(seqs(), [1, 4, 29, 30, 5]);
  });

  test("messages without a seq (not stored) are de-duplicated by id only", () => {
    const { box, seqs } = inbox();
    box.live(msg(3));
    box.live({ ...msg(0), messageId: 7 });
    box.live({ ...msg(0), messageId: 7 });
    box.live({ ...msg(0), messageId: 8 });
    assert.deepEqual(seqs(), [3, 0, 0]);
    assert.equal(box.hasGaps(), false);
  });
});
