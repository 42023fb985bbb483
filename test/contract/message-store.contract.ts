/**
 * The MessageStore contract, run on every backend (test/store/message-store-*.test.ts). The
 * factory gives a fresh store over empty storage, not yet migrated; each test migrates it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ChannelType, personChannelId } from "../../src/store/channel-id.js";
import type {
  AppendInput,
  AppendResult,
  Conversation,
  MessageRangeQuery,
  MessageStore,
  StoredMessage,
} from "../../src/store/message-store.js";
import { InvalidArgumentError, UnavailableError } from "../../src/util/errors.js";

export interface StoreUnderTest {
  store: MessageStore;
  cleanup(): Promise<void>;
}

const P = ChannelType.Person;
const G = ChannelType.Group;
const AB = personChannelId("alice", "bob");
const AC = personChannelId("alice", "carol");
const T0 = 1_700_000_000;

let counter = 0;
/** A message with a unique clientMsgNo and a payload naming it, so reads can be checked. */
export function msg(fromUid: string, channelId: string, channelType: number, over: Partial<AppendInput> = {}): AppendInput {
  counter++;
  return {
    fromUid,
    channelId,
    channelType,
    clientMsgNo: `cmn-${counter}`,
    header: { noPersist: false, redDot: true, syncOnce: false },
    setting: 0,
    expire: 0,
    topic: "",
    payload: new TextEncoder().encode(`${channelId}#${counter}`),
    timestamp: T0 + counter,
    ...over,
  };
}

export function assertBytes(actual: Uint8Array, expected: Uint8Array, what = "payload"): void {
  assert.ok(actual instanceof Uint8Array, `${what} is a Uint8Array`);
  assert.equal(actual.byteLength, expected.byteLength, `${what} length`);
  assert.equal(Buffer.compare(Buffer.from(actual), Buffer.from(expected)), 0, `${what} bytes`);
}

const seqsOf = (ms: StoredMessage[]) => ms.map((m) => m.messageSeq);
/** One field of each item, so expectations fit on a line. */
const field = <T, K extends keyof T>(items: T[], key: K): T[K][] => items.map((item) => item[key]);
/** Append results as "seq" or "seq dup". */
const outcomes = (rs: AppendResult[]) => rs.map((r) => `${r.messageSeq}${r.duplicate ? " dup" : ""}`);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function conv(store: MessageStore, uid: string, channelId: string, channelType: number): Promise<Conversation | undefined> {
  const all = await store.syncConversations({ uid, version: 0, msgCount: 0 });
  return all.find((c) => c.channelId === channelId && c.channelType === channelType);
}

export function messageStoreContract(name: string, factory: () => Promise<StoreUnderTest>, opts: { skip?: false | string } = {}): void {
  describe(`MessageStore contract: ${name}`, { skip: opts.skip }, () => {
    const it = (title: string, fn: (store: MessageStore) => Promise<void>) =>
      test(title, async () => {
        const { store, cleanup } = await factory();
        try {
          await store.migrate();
          await fn(store);
        } finally {
          await cleanup();
        }
      });

    describe("append", () => {
      it("migrate is idempotent and keeps what was stored", async (store) => {
        await store.append([msg("alice", "g1", G)]);
        await store.migrate();
        assert.equal(await store.maxSeq("g1", G), 1);
        const [r] = await store.append([msg("alice", "g1", G)]);
        assert.equal(r.messageSeq, 2);
      });

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

      it("bad input is rejected with InvalidArgumentError and stores nothing", async (store) => {
        const bad: Array<[string, () => Promise<unknown>]> = [
          ["channel type 0", () => store.append([msg("alice", "g1", G), msg("alice", "g1", 0)])],
          ["non-canonical person id", () => store.append([msg("alice", "bob@alice", P)])],
          ["person id without @", () => store.append([msg("alice", "bob", P)])],
          ["empty channel id", () => store.append([msg("alice", "", G)])],
          ["uid with @", () => store.append([msg("a@b", "g1", G)])],
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

      it("close lets calls in flight finish; later calls fail with UnavailableError", async (store) => {
        const pending = store.append([msg("alice", "g1", G), msg("bob", AB, P)]);
        await store.close();
        assert.deepEqual(field(await pending, "messageSeq"), [1, 1]);
        await assert.rejects(store.maxSeq("g1", G), UnavailableError);
        await assert.rejects(store.append([msg("alice", "g1", G)]), UnavailableError);
      });

      it("ping answers while the store serves, and fails with UnavailableError once it is closed", async (store) => {
        await store.ping();
        await store.ping();
        assert.equal(await store.maxSeq("g1", G), 0, "a ping stores no message");
        await store.close();
        await assert.rejects(store.ping(), UnavailableError);
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
      async function fill(store: MessageStore): Promise<void> {
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

    describe("channels and subscribers", () => {
      it("upsertChannel creates and changes only the given flags", async (store) => {
        assert.equal(await store.getChannel("g1", G), undefined);
        await store.upsertChannel({ channelId: "g1", channelType: G, ban: true });
        assert.deepEqual(await store.getChannel("g1", G), {
          channelId: "g1",
          channelType: G,
          ban: true,
          disband: false,
          sendBan: false,
          large: false,
        });
        await store.upsertChannel({ channelId: "g1", channelType: G, large: true, sendBan: true });
        assert.deepEqual(await store.getChannel("g1", G), {
          channelId: "g1",
          channelType: G,
          ban: true,
          disband: false,
          sendBan: true,
          large: true,
        });
        await store.upsertChannel({ channelId: "g1", channelType: G, ban: false, disband: true });
        assert.deepEqual(await store.getChannel("g1", G), {
          channelId: "g1",
          channelType: G,
          ban: false,
          disband: true,
          sendBan: true,
          large: true,
        });
        assert.equal(await store.getChannel("g1", P + 2), undefined, "channel type is part of the key");
        await store.append([msg("alice", "g2", G)]);
        assert.equal(await store.getChannel("g2", G), undefined, "messages alone do not create a channel");
      });

      it("add, reset, remove and isSubscriber", async (store) => {
        await store.addSubscribers("g1", G, ["carol", "alice", "bob"]);
        assert.deepEqual(await store.getSubscribers("g1", G), ["alice", "bob", "carol"]);
        await store.addSubscribers("g1", G, ["bob", "dave"]);
        assert.deepEqual(await store.getSubscribers("g1", G), ["alice", "bob", "carol", "dave"]);
        await store.addSubscribers("g2", G, ["zed"]);
        await store.addSubscribers("g1", G, ["erin", "dave"], true);
        assert.deepEqual(await store.getSubscribers("g1", G), ["dave", "erin"]);
        await store.removeSubscribers("g1", G, ["dave", "nobody"]);
        assert.deepEqual(await store.getSubscribers("g1", G), ["erin"]);
        assert.equal(await store.isSubscriber("g1", G, "erin"), true);
        assert.equal(await store.isSubscriber("g1", G, "alice"), false);
        assert.deepEqual(await store.getSubscribers("g2", G), ["zed"]);
        await store.addSubscribers("g1", G, [], true);
        assert.deepEqual(await store.getSubscribers("g1", G), []);
      });

      it("deleteChannel drops channel, subscribers and conversations, keeps messages and seqs", async (store) => {
        await store.upsertChannel({ channelId: "g1", channelType: G, ban: true });
        await store.addSubscribers("g1", G, ["alice", "bob"]);
        await store.append([msg("alice", "g1", G), msg("alice", "g1", G)]);
        assert.ok(await conv(store, "bob", "g1", G));
        await store.deleteChannel("g1", G);
        assert.equal(await store.getChannel("g1", G), undefined);
        assert.deepEqual(await store.getSubscribers("g1", G), []);
        assert.equal(await conv(store, "bob", "g1", G), undefined);
        assert.equal(await conv(store, "alice", "g1", G), undefined);
        assert.equal((await store.getMessagesBySeq("g1", G, [1, 2])).length, 2);
        await store.upsertChannel({ channelId: "g1", channelType: G });
        assert.deepEqual(await store.getChannel("g1", G), {
          channelId: "g1",
          channelType: G,
          ban: false,
          disband: false,
          sendBan: false,
          large: false,
        });
        const [r] = await store.append([msg("alice", "g1", G)]);
        assert.equal(r.messageSeq, 3);
      });
    });

    describe("conversations", () => {
      it("a person chat shows up for both users; only the receiver has unread", async (store) => {
        const sent = [msg("alice", AB, P), msg("alice", AB, P), msg("alice", AB, P)];
        await store.append(sent);
        const [bob] = await store.syncConversations({ uid: "bob", version: 0, msgCount: 2 });
        assert.deepEqual(
          { ...bob, recents: seqsOf(bob.recents), version: undefined },
          {
            uid: "bob",
            channelId: AB,
            channelType: P,
            unread: 3,
            timestamp: sent[2].timestamp,
            lastMsgSeq: 3,
            lastClientMsgNo: sent[2].clientMsgNo,
            readedToMsgSeq: 0,
            version: undefined,
            recents: [2, 3],
          },
        );
        const alice = await conv(store, "alice", AB, P);
        assert.equal(alice?.unread, 0);
        assert.equal(alice?.readedToMsgSeq, 3);
        assert.deepEqual(alice?.recents, [], "msgCount 0 = no recents");
        await store.append([msg("bob", AB, P)]);
        assert.equal((await conv(store, "bob", AB, P))?.unread, 0, "replying reads the chat");
        assert.equal((await conv(store, "alice", AB, P))?.unread, 1);
        assert.equal(await conv(store, "carol", AB, P), undefined);
      });

      it("group members get conversations; the sender's own messages never count", async (store) => {
        await store.upsertChannel({ channelId: "g1", channelType: G });
        await store.addSubscribers("g1", G, ["alice", "bob", "carol"]);
        assert.equal(await conv(store, "bob", "g1", G), undefined, "nothing to show before the first message");
        await store.append([msg("alice", "g1", G), msg("alice", "g1", G)]);
        assert.equal((await conv(store, "alice", "g1", G))?.unread, 0);
        assert.equal((await conv(store, "bob", "g1", G))?.unread, 2);
        assert.equal((await conv(store, "carol", "g1", G))?.unread, 2);
        assert.equal(await conv(store, "dave", "g1", G), undefined, "not a member");
        await store.append([msg("bob", "g1", G)]);
        assert.equal((await conv(store, "bob", "g1", G))?.unread, 0);
        assert.equal((await conv(store, "alice", "g1", G))?.unread, 1);
        await store.addSubscribers("g1", G, ["erin"]);
        const erin = await conv(store, "erin", "g1", G);
        assert.deepEqual([erin?.unread, erin?.readedToMsgSeq], [0, 3], "a late joiner starts with history read");
        await store.append([msg("carol", "g1", G)]);
        assert.equal((await conv(store, "erin", "g1", G))?.unread, 1);
        await store.removeSubscribers("g1", G, ["bob"]);
        assert.equal(await conv(store, "bob", "g1", G), undefined, "a removed member loses the conversation");
      });

      it("clearUnread, setUnread and deleteConversation", async (store) => {
        await store.append(range(1, 5).map(() => msg("alice", AB, P)));
        const unread = async () => {
          const c = await conv(store, "bob", AB, P);
          return c && [c.unread, c.readedToMsgSeq];
        };
        assert.deepEqual(await unread(), [5, 0]);
        await store.clearUnread("bob", AB, P, 3);
        assert.deepEqual(await unread(), [2, 3]);
        await store.clearUnread("bob", AB, P, 1);
        assert.deepEqual(await unread(), [2, 3], "clearing to an older seq does not unread");
        await store.clearUnread("bob", AB, P);
        assert.deepEqual(await unread(), [0, 5]);
        await store.setUnread("bob", AB, P, 2);
        assert.deepEqual(await unread(), [2, 3]);
        await store.setUnread("bob", AB, P, 99);
        assert.deepEqual(await unread(), [5, 0]);
        await store.clearUnread("bob", AB, P, 99);
        assert.deepEqual(await unread(), [0, 5], "a seq past the end clears everything");
        await store.deleteConversation("bob", AB, P);
        assert.equal(await unread(), undefined);
        assert.ok(await conv(store, "alice", AB, P), "the peer keeps it");
        await store.append([msg("alice", AB, P)]);
        assert.deepEqual(await unread(), [1, 5], "it comes back with the next message only");
      });

      it("read-state changes move the version so other devices sync them", async (store) => {
        await store.append([msg("alice", AB, P), msg("alice", AB, P)]);
        const [before] = await store.syncConversations({ uid: "bob", version: 0, msgCount: 0 });
        assert.deepEqual(await store.syncConversations({ uid: "bob", version: before.version, msgCount: 0 }), []);
        await store.clearUnread("bob", AB, P);
        const after = await store.syncConversations({ uid: "bob", version: before.version, msgCount: 0 });
        assert.equal(after.length, 1);
        assert.ok(after[0].version > before.version);
        assert.equal(after[0].unread, 0);
        await store.setUnread("bob", AB, P, 1);
        const unreadAgain = await store.syncConversations({ uid: "bob", version: after[0].version, msgCount: 0 });
        assert.deepEqual(field(unreadAgain, "unread"), [1]);
      });

      it("version sync returns only what changed, newest first, with ascending recents", async (store) => {
        await store.addSubscribers("g1", G, ["alice", "bob"]);
        await store.append([msg("alice", AB, P)]);
        await store.append([msg("carol", AC, P), msg("carol", AC, P), msg("carol", AC, P)]);
        await store.append([msg("bob", "g1", G)]);
        const all = await store.syncConversations({ uid: "alice", version: 0, msgCount: 2 });
        assert.deepEqual(field(all, "channelId"), ["g1", AC, AB]);
        assert.deepEqual(seqsOf(all[1].recents), [2, 3]);
        assert.deepEqual(field(all, "unread"), [1, 3, 0]);
        const v = Math.max(...all.map((c) => c.version));
        assert.deepEqual(await store.syncConversations({ uid: "alice", version: v, msgCount: 2 }), []);
        await store.append([msg("bob", AB, P), msg("bob", AB, P)]);
        const changed = await store.syncConversations({ uid: "alice", version: v, msgCount: 5 });
        const summary = changed.map((c) => `${c.channelId} unread ${c.unread} recents ${seqsOf(c.recents)}`);
        assert.deepEqual(summary, [`${AB} unread 2 recents 1,2,3`]);
        assert.ok(changed[0].version > v);
        const order = await store.syncConversations({ uid: "alice", version: 0, msgCount: 0 });
        assert.deepEqual(field(order, "channelId"), [AB, "g1", AC]);
      });

      it("lastMsgSeqs, onlyUnread, excludeChannelTypes and limit", async (store) => {
        await store.addSubscribers("g1", G, ["alice", "bob"]);
        await store.append([msg("bob", AB, P), msg("bob", AB, P), msg("bob", AB, P)]);
        await store.append([msg("alice", AC, P)]);
        await store.append([msg("bob", "g1", G)]);
        const sync = (over: Partial<Parameters<MessageStore["syncConversations"]>[0]>) =>
          store.syncConversations({ uid: "alice", version: 0, msgCount: 10, ...over });
        const known = new Map(Object.entries({ [`${AB}:${P}`]: 1, [`g1:${G}`]: 1 }));
        const r = await sync({ lastMsgSeqs: known });
        const summary = r.map((c) => `${c.channelId} recents ${seqsOf(c.recents)}`);
        assert.deepEqual(
          summary,
          [`${AC} recents 1`, `${AB} recents 2,3`],
          "up-to-date channels are skipped; recents start after the known seq",
        );
        assert.deepEqual(field(await sync({ onlyUnread: true }), "channelId"), ["g1", AB]);
        assert.deepEqual(field(await sync({ excludeChannelTypes: [G] }), "channelId"), [AC, AB]);
        assert.deepEqual(field(await sync({ limit: 2 }), "channelId"), ["g1", AC]);
      });
    });

    describe("tokens", () => {
      it("set, get and overwrite per (uid, deviceFlag)", async (store) => {
        assert.equal(await store.getToken("alice", 0), undefined);
        await store.setToken({ uid: "alice", deviceFlag: 0, token: "t-app", deviceLevel: 1 });
        await store.setToken({ uid: "alice", deviceFlag: 1, token: "t-web", deviceLevel: 0 });
        assert.deepEqual(await store.getToken("alice", 0), { uid: "alice", deviceFlag: 0, token: "t-app", deviceLevel: 1 });
        await store.setToken({ uid: "alice", deviceFlag: 0, token: "t-app-2", deviceLevel: 0 });
        assert.deepEqual(await store.getToken("alice", 0), { uid: "alice", deviceFlag: 0, token: "t-app-2", deviceLevel: 0 });
        assert.deepEqual(await store.getToken("alice", 1), { uid: "alice", deviceFlag: 1, token: "t-web", deviceLevel: 0 });
        assert.equal(await store.getToken("bob", 0), undefined);
      });
    });

    describe("accounts (CIM)", () => {
      it("a name gets one id, again and again, also when registered concurrently", async (store) => {
        const [a, again, ...racing] = await Promise.all([
          store.registerAccount("Ann"),
          store.registerAccount("Ann"),
          ...Array.from({ length: 5 }, () => store.registerAccount("Bo")),
        ]);
        assert.equal(again.userId, a.userId);
        assert.match(a.userId, /^\d+$/);
        assert.equal(new Set(racing.map((r) => r.userId)).size, 1, "five concurrent registrations of one name, one id");
        assert.notEqual(racing[0].userId, a.userId);
        assert.equal(a.userName, "Ann");
        assert.ok(Math.abs(a.createdAt - Date.now()) < 60_000, "created now");
        const found = await store.getAccounts([a.userId, racing[0].userId, "999999999", a.userId]);
        assert.deepEqual(found.map((x) => x.userName).sort(), ["Ann", "Bo"]);
        assert.deepEqual(await store.getAccounts([]), []);
      });

      it("bad names are refused", async (store) => {
        for (const bad of ["", "x".repeat(65), "a\u0000b", "tab\there"]) {
          await assert.rejects(store.registerAccount(bad), /userName must be/, JSON.stringify(bad));
        }
      });

      it("a login's route is saved on the account, replaced by the next, cleared by offLine", async (store) => {
        const a = await store.registerAccount("Cy");
        assert.equal(a.route, null, "a new account has no route");
        const before = Date.now();
        assert.equal(await store.setAccountRoute(a.userId, "node-2"), true);
        const [routed] = await store.getAccounts([a.userId]);
        assert.equal(routed.route?.nodeId, "node-2");
        assert.ok(routed.route && routed.route.at >= before && routed.route.at <= Date.now(), "stamped with the login time");
        assert.deepEqual((await store.registerAccount("Cy")).route, routed.route, "registering again keeps the route");
        await store.setAccountRoute(a.userId, "node-1");
        assert.equal((await store.getAccounts([a.userId]))[0].route?.nodeId, "node-1");
        assert.equal(await store.setAccountRoute(a.userId, null), true);
        assert.deepEqual(await store.getAccounts([a.userId]), [{ ...a, route: null }]);
        assert.equal(await store.setAccountRoute("424242", "node-1"), false, "no such account");
        await assert.rejects(store.setAccountRoute("", "node-1"), /userId must be/);
        await assert.rejects(store.setAccountRoute(a.userId, ""), /nodeId must be/);
        await assert.rejects(store.setAccountRoute(a.userId, "a\u0000b"), /nodeId must not contain NUL/);
      });
    });
  });
}
