/**
 * The MessageLog contract (append, allocateMessageId, getMessages, getMessagesBySeq, maxSeq), run on
 * every backend through messageStoreContract (message-store.contract.ts).
 */
import assert from "node:assert/strict";
import { describe } from "node:test";
import type { ConversationStore, MessageLog, MessageRangeQuery, TokenStore } from "../../src/store/message-store.js";
import { InvalidArgumentError } from "../../src/util/errors.js";
import {
  AB,
  type ContractOptions,
  G,
  P,
  type StoreCase,
  type StoreFactory,
  assertBytes,
  counter,
  field,
  msg,
  outcomes,
  range,
  seqsOf,
  storeCases,
} from "./store-fixtures.js";

export function messageLogContract(name: string, factory: StoreFactory, opts: ContractOptions = {}): void {
  describe(`MessageLog contract: ${name}`, { skip: opts.skip }, () => {
    const it: StoreCase<MessageLog> = storeCases(factory);
    // The bad-input case checks every validating call in one go, so it also reaches the token and
    // unread setters (TokenStore.setToken, ConversationStore.setUnread).
    const itWithOtherValidators: StoreCase<MessageLog & Pick<TokenStore, "setToken"> & Pick<ConversationStore, "setUnread">> =
      storeCases(factory);

    describe("append", () => {
      it("seqs start at 1 and grow by one per channel; message ids grow globally", async (store) => {
        const plan = ["g1", "g2", "g1", "g1", "g3", "g2", "g1"];
        const results = [];
        for (const ch of plan) results.push(...(await store.append([msg("alice", ch, G)])));
        assert.deepEqual(field(results, "messageSeq"), [1, 1, 2, 3, 1, 2, 4]);
        for (let i = 1; i < results.length; i++) assert.ok(results[i].messageId > results[i - 1].messageId, "ids strictly increase");
        assert.ok(results.every((r) => r.duplicate === false && Number.isSafeInteger(r.messageId) && r.messageId > 0));
      });

      it("one batch spans several channels, results in input order", async (store) => {
        const batch = [msg("alice", "g1", G), msg("alice", AB, P), msg("bob", "g1", G), msg("carol", "g2", G), msg("bob", AB, P)];
        const results = await store.append(batch);
        assert.deepEqual(field(results, "messageSeq"), [1, 1, 2, 1, 2]);
        assert.deepEqual(
          field(results, "timestamp"),
          batch.map((m) => m.timestamp),
        );
        assert.equal(new Set(results.map((r) => r.messageId)).size, 5);
        const g1 = await store.getMessages({ channelId: "g1", channelType: G, startSeq: 0, endSeq: 0, limit: 10, pullMode: 0 });
        assert.deepEqual(field(g1.messages, "clientMsgNo"), [batch[0].clientMsgNo, batch[2].clientMsgNo]);
        assert.deepEqual(field(g1.messages, "messageId"), [results[0].messageId, results[2].messageId]);
        assert.equal(await store.maxSeq(AB, P), 2);
        assert.equal(await store.maxSeq("g2", G), 1);
      });

      it("a retried send is stored once and answers with the first ids", async (store) => {
        const first = msg("alice", AB, P);
        const [a] = await store.append([first]);
        const retry = { ...first, payload: new Uint8Array([9]), timestamp: first.timestamp + 60 };
        const [b] = await store.append([retry]);
        assert.deepEqual(b, { messageId: a.messageId, messageSeq: a.messageSeq, timestamp: first.timestamp, duplicate: true });
        assert.equal(await store.maxSeq(AB, P), 1);
        const [stored] = await store.getMessagesBySeq(AB, P, [1]);
        assertBytes(stored.payload, first.payload);
        const [c] = await store.append([msg("alice", AB, P)]);
        assert.equal(c.messageSeq, 2, "no gap after a duplicate");
      });

      it("duplicates inside one batch get the first one's ids", async (store) => {
        const m1 = msg("alice", "g1", G);
        const m2 = msg("alice", "g1", G);
        const results = await store.append([m1, { ...m1, payload: new Uint8Array([1]) }, m2, { ...m1 }, { ...m2, channelId: "g9" }]);
        assert.deepEqual(outcomes(results), ["1", "1 dup", "2", "1 dup", "2 dup"]);
        assert.equal(results[1].messageId, results[0].messageId);
        assert.equal(results[3].messageId, results[0].messageId);
        assert.equal(results[4].messageId, results[2].messageId);
        assert.equal(await store.maxSeq("g1", G), 2);
        assert.equal(await store.maxSeq("g9", G), 0, "a duplicate aimed at another channel stores nothing there");
      });

      it("the key is (fromUid, clientMsgNo); an empty clientMsgNo is no key", async (store) => {
        const r = await store.append([
          msg("alice", "g1", G, { clientMsgNo: "same" }),
          msg("bob", "g1", G, { clientMsgNo: "same" }),
          msg("alice", "g1", G, { clientMsgNo: "" }),
          msg("alice", "g1", G, { clientMsgNo: "" }),
        ]);
        assert.deepEqual(outcomes(r), ["1", "2", "3", "4"]);
        const [again] = await store.append([msg("alice", "g1", G, { clientMsgNo: "" })]);
        assert.equal(again.messageSeq, 5);
        const stored = await store.getMessagesBySeq("g1", G, [3, 4, 5]);
        assert.deepEqual(field(stored, "clientMsgNo"), ["", "", ""]);
      });

      it("payload bytes round-trip exactly", async (store) => {
        const all = Uint8Array.from(range(0, 255));
        const notUtf8 = new Uint8Array([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0x00, 0x5c, 0x22]);
        const big = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) & 0xff);
        const backing = Uint8Array.from(range(10, 40));
        const view = backing.subarray(5, 12); // a view: only its own bytes may be stored
        const payloads = [all, notUtf8, new Uint8Array(0), big, view];
        await store.append(payloads.map((payload) => msg("alice", "bin", G, { payload })));
        const got = await store.getMessagesBySeq("bin", G, [1, 2, 3, 4, 5]);
        assert.equal(got.length, 5);
        got.forEach((m, i) => assertBytes(m.payload, payloads[i], `payload ${i}`));
      });

      it("header flags and the other fields round-trip", async (store) => {
        const inputs = range(0, 7).map((bits) =>
          msg("alice", AB, P, {
            header: { noPersist: (bits & 1) !== 0, redDot: (bits & 2) !== 0, syncOnce: (bits & 4) !== 0 },
            setting: bits === 7 ? 0xff : bits,
            expire: bits * 3600,
            topic: bits % 2 ? `topic/${bits}` : "",
            clientMsgNo: `héllo-${bits}-${counter}`,
          }),
        );
        const results = await store.append(inputs);
        const { messages } = await store.getMessages({ channelId: AB, channelType: P, startSeq: 1, endSeq: 0, limit: 100, pullMode: 1 });
        assert.equal(messages.length, 8);
        messages.forEach((m, i) => {
          const { payload, ...rest } = m;
          const { payload: sent, ...input } = inputs[i];
          assert.deepEqual(rest, { ...input, messageId: results[i].messageId, messageSeq: i + 1 });
          assertBytes(payload, sent);
        });
      });

      it("allocateMessageId never repeats a stored id and keeps growing", async (store) => {
        const a = await store.allocateMessageId();
        const [m] = await store.append([msg("alice", "g1", G)]);
        const b = await store.allocateMessageId();
        const c = await store.allocateMessageId();
        assert.ok(a < m.messageId && m.messageId < b && b < c, `${a} < ${m.messageId} < ${b} < ${c}`);
      });

      itWithOtherValidators("bad input is rejected with InvalidArgumentError and stores nothing", async (store) => {
        const bad: Array<[string, () => Promise<unknown>]> = [
          ["channel type 0", () => store.append([msg("alice", "g1", G), msg("alice", "g1", 0)])],
          ["non-canonical person id", () => store.append([msg("alice", "bob@alice", P)])],
          ["person id without @", () => store.append([msg("alice", "bob", P)])],
          ["empty channel id", () => store.append([msg("alice", "", G)])],
          ["uid with @", () => store.append([msg("a@b", "g1", G)])],
          ["uid over 128 bytes", () => store.append([msg("x".repeat(129), "g1", G)])],
          ["payload not bytes", () => store.append([msg("alice", "g1", G, { payload: "x" as unknown as Uint8Array })])],
          ["fractional timestamp", () => store.append([msg("alice", "g1", G, { timestamp: 1.5 })])],
          ["limit 0", () => store.getMessages({ channelId: "g1", channelType: G, startSeq: 0, endSeq: 0, limit: 0, pullMode: 0 })],
          ["pull mode 2", () => store.getMessages({ channelId: "g1", channelType: G, startSeq: 0, endSeq: 0, limit: 1, pullMode: 2 as 0 })],
          ["negative seq", () => store.getMessagesBySeq("g1", G, [-1])],
          ["token uid with @", () => store.setToken({ uid: "a@b", deviceFlag: 0, token: "t", deviceLevel: 1 })],
          ["negative unread", () => store.setUnread("alice", AB, P, -1)],
        ];
        for (const [what, call] of bad) await assert.rejects(call, InvalidArgumentError, what);
        assert.equal(await store.maxSeq("g1", G), 0, "the good half of a bad batch is not stored");
        assert.deepEqual(await store.append([]), []);
      });
    });

    describe("reads", () => {
      const ch = "big";
      const q = (startSeq: number, endSeq: number, limit: number, pullMode: 0 | 1): MessageRangeQuery => ({
        channelId: ch,
        channelType: G,
        startSeq,
        endSeq,
        limit,
        pullMode,
      });
      async function fill(store: Pick<MessageLog, "append">): Promise<void> {
        for (let b = 0; b < 10; b++) {
          await store.append(range(1, 100).map((i) => msg("alice", ch, G, { payload: new TextEncoder().encode(`seq ${b * 100 + i}`) })));
        }
        await store.append([msg("alice", "other", G)]);
      }

      it("1,000 messages read in every pull mode, ascending, with `more`", async (store) => {
        await fill(store);
        const cases: Array<[MessageRangeQuery, number[], boolean]> = [
          [q(0, 0, 10, 0), range(991, 1000), true],
          [q(0, 0, 10, 1), range(991, 1000), true],
          [q(0, 0, 1000, 0), range(1, 1000), false],
          [q(0, 0, 5000, 0), range(1, 1000), false],
          [q(500, 0, 10, 0), range(491, 500), true],
          [q(500, 490, 20, 0), range(491, 500), false],
          [q(500, 490, 10, 0), range(491, 500), false],
          [q(500, 495, 3, 0), range(498, 500), true],
          [q(5, 0, 10, 0), range(1, 5), false],
          [q(0, 990, 100, 0), range(991, 1000), false],
          [q(2000, 0, 3, 0), range(998, 1000), true],
          [q(1, 0, 10, 1), range(1, 10), true],
          [q(995, 0, 10, 1), range(995, 1000), false],
          [q(100, 105, 10, 1), range(100, 104), false],
          [q(100, 106, 3, 1), range(100, 102), true],
          [q(1001, 0, 10, 1), [], false],
          [q(10, 10, 10, 1), [], false],
          [q(10, 11, 10, 0), [], false],
        ];
        for (const [query, seqs, more] of cases) {
          const r = await store.getMessages(query);
          const label = JSON.stringify({ ...query, channelId: undefined, channelType: undefined });
          assert.deepEqual(seqsOf(r.messages), seqs, label);
          assert.equal(r.more, more, `more for ${label}`);
          for (const m of r.messages) assert.equal(new TextDecoder().decode(m.payload), `seq ${m.messageSeq}`);
        }
      });

      it("paging down from the newest and up from the oldest visits every message once", async (store) => {
        await fill(store);
        const down: number[] = [];
        let page = await store.getMessages(q(0, 0, 64, 0));
        for (;;) {
          down.unshift(...seqsOf(page.messages));
          if (!page.more) break;
          page = await store.getMessages(q(page.messages[0].messageSeq - 1, 0, 64, 0));
        }
        assert.deepEqual(down, range(1, 1000));
        const up: number[] = [];
        page = await store.getMessages(q(1, 0, 64, 1));
        for (;;) {
          up.push(...seqsOf(page.messages));
          if (!page.more) break;
          page = await store.getMessages(q(page.messages.at(-1)!.messageSeq + 1, 0, 64, 1));
        }
        assert.deepEqual(up, range(1, 1000));
        const ids = (await store.getMessages(q(0, 0, 1000, 0))).messages.map((m) => m.messageId);
        assert.ok(
          ids.every((id, i) => i === 0 || id > ids[i - 1]),
          "message ids grow with seq",
        );
      });

      it("getMessagesBySeq returns what exists, in seq order; maxSeq follows appends", async (store) => {
        assert.equal(await store.maxSeq(ch, G), 0);
        assert.deepEqual(await store.getMessagesBySeq(ch, G, [1]), []);
        await fill(store);
        assert.equal(await store.maxSeq(ch, G), 1000);
        assert.equal(await store.maxSeq("other", G), 1);
        assert.deepEqual(seqsOf(await store.getMessagesBySeq(ch, G, [500, 1, 999, 1001, 1])), [1, 500, 999]);
        assert.deepEqual(await store.getMessagesBySeq(ch, G, []), []);
        assert.deepEqual(seqsOf(await store.getMessagesBySeq("other", G, [1, 2])), [1]);
      });
    });
  });
}
