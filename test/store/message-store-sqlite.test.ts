import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ChannelType, personChannelId } from "../../src/store/channel-id.js";
import { SqliteMessageStore } from "../../src/store/message-store-sqlite.js";
import { UnavailableError } from "../../src/util/errors.js";
import { assertBytes, messageStoreContract, msg } from "../contract/message-store.contract.js";

const dir = mkdtempSync(join(tmpdir(), "switchboard-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshFile = () => join(dir, `store-${++files}.db`);

messageStoreContract("sqlite :memory:", async () => {
  const store = new SqliteMessageStore({ path: ":memory:" });
  return { store, cleanup: () => store.close() };
});

messageStoreContract("sqlite file", async () => {
  const store = new SqliteMessageStore({ path: freshFile(), synchronous: "full" });
  return { store, cleanup: () => store.close() };
});

describe("SqliteMessageStore", () => {
  const G = ChannelType.Group;
  const P = ChannelType.Person;
  const ab = personChannelId("alice", "bob");

  test("a file store closed and reopened keeps everything and continues seqs and ids", async () => {
    const path = freshFile();
    const first = new SqliteMessageStore({ path });
    await first.migrate();
    const sent = [msg("alice", ab, P), msg("alice", ab, P, { payload: new Uint8Array([0xff, 0, 0xfe]) }), msg("bob", "g1", G)];
    const ids = await first.append(sent);
    await first.addSubscribers("g1", G, ["alice", "bob"]);
    await first.setToken({ uid: "alice", deviceFlag: 1, token: "secret", deviceLevel: 1 });
    await first.close();
    await assert.rejects(first.maxSeq(ab, P), UnavailableError, "a closed store says so");

    const again = new SqliteMessageStore({ path });
    await again.migrate();
    const { messages } = await again.getMessages({ channelId: ab, channelType: P, startSeq: 0, endSeq: 0, limit: 10, pullMode: 0 });
    assert.deepEqual(
      messages.map((m) => [m.messageId, m.messageSeq, m.clientMsgNo]),
      [
        [ids[0].messageId, 1, sent[0].clientMsgNo],
        [ids[1].messageId, 2, sent[1].clientMsgNo],
      ],
    );
    assertBytes(messages[1].payload, sent[1].payload);
    const [retry] = await again.append([sent[0]]);
    assert.deepEqual(retry, { ...ids[0], duplicate: true }, "de-dup survives a restart");
    const [next] = await again.append([msg("bob", ab, P)]);
    assert.equal(next.messageSeq, 3);
    assert.ok(next.messageId > ids[2].messageId);
    assert.ok((await again.allocateMessageId()) > next.messageId);
    assert.deepEqual(await again.getSubscribers("g1", G), ["alice", "bob"]);
    assert.equal((await again.getToken("alice", 1))?.token, "secret");
    const [conv] = await again.syncConversations({ uid: "alice", version: 0, msgCount: 0 });
    assert.deepEqual([conv.channelId, conv.unread, conv.readedToMsgSeq], [ab, 1, 2]);
    await again.close();
  });

  test("two stores on one file share seqs and de-dup (no state kept between transactions)", async () => {
    const path = freshFile();
    const a = new SqliteMessageStore({ path });
    const b = new SqliteMessageStore({ path });
    await Promise.all([a.migrate(), b.migrate()]);
    const m = msg("alice", "g1", G);
    const seqs = [];
    for (const store of [a, b, a, b]) seqs.push((await store.append([msg("alice", "g1", G)]))[0].messageSeq);
    assert.deepEqual(seqs, [1, 2, 3, 4]);
    const [first] = await a.append([m]);
    const [dup] = await b.append([m]);
    assert.deepEqual(dup, { ...first, duplicate: true });
    assert.ok((await b.allocateMessageId()) > first.messageId);
    await a.close();
    await b.close();
  });

  test("10,000 appends in batches of 100 are all stored, gap-free per channel", async () => {
    const store = new SqliteMessageStore({ path: freshFile() });
    await store.migrate();
    const channels = ["g0", "g1", "g2", "g3", "g4", "g5", "g6"];
    const expected = new Map(channels.map((c) => [c, [] as string[]]));
    const seen = new Set<number>();
    let lastId = 0;
    for (let b = 0; b < 100; b++) {
      const batch = Array.from({ length: 100 }, (_, i) => msg(`u${i % 13}`, channels[(b * 100 + i) % 7], G));
      const results = await store.append(batch);
      results.forEach((r, i) => {
        const list = expected.get(batch[i].channelId)!;
        list.push(batch[i].clientMsgNo);
        assert.equal(r.messageSeq, list.length, "seq = position in its channel");
        assert.equal(r.duplicate, false);
        assert.ok(r.messageId > lastId, "ids grow in input order");
        lastId = r.messageId;
        seen.add(r.messageId);
      });
    }
    assert.equal(seen.size, 10_000);
    for (const c of channels) {
      const want = expected.get(c)!;
      assert.equal(await store.maxSeq(c, G), want.length);
      const { messages, more } = await store.getMessages({
        channelId: c,
        channelType: G,
        startSeq: 1,
        endSeq: 0,
        limit: 10_000,
        pullMode: 1,
      });
      assert.equal(more, false);
      assert.deepEqual(
        messages.map((m) => m.clientMsgNo),
        want,
      );
    }
    await store.close();
  });
});
