/**
 * The ConversationStore contract (conversation sync, unread counts and read positions), run on every
 * backend through messageStoreContract (message-store.contract.ts).
 */
import assert from "node:assert/strict";
import { describe } from "node:test";
import type { ChannelStore, ConversationStore, MessageLog } from "../../src/store/message-store.js";
import {
  AB,
  AC,
  type ContractOptions,
  G,
  P,
  type StoreCase,
  type StoreFactory,
  conv,
  field,
  msg,
  range,
  seqsOf,
  storeCases,
} from "./store-fixtures.js";

export function conversationStoreContract(name: string, factory: StoreFactory, opts: ContractOptions = {}): void {
  describe(`ConversationStore contract: ${name}`, { skip: opts.skip }, () => {
    // Conversations come from messages, so every case needs messages to exist (append).
    const it: StoreCase<ConversationStore & Pick<MessageLog, "append">> = storeCases(factory);
    // For cases about group conversations, which follow the group's members.
    const itWithMembers: StoreCase<
      ConversationStore & Pick<MessageLog, "append"> & Pick<ChannelStore, "upsertChannel" | "addSubscribers" | "removeSubscribers">
    > = storeCases(factory);

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

      itWithMembers("group members get conversations; the sender's own messages never count", async (store) => {
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

      itWithMembers("version sync returns only what changed, newest first, with ascending recents", async (store) => {
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

      itWithMembers("lastMsgSeqs, onlyUnread, excludeChannelTypes and limit", async (store) => {
        await store.addSubscribers("g1", G, ["alice", "bob"]);
        await store.append([msg("bob", AB, P), msg("bob", AB, P), msg("bob", AB, P)]);
        await store.append([msg("alice", AC, P)]);
        await store.append([msg("bob", "g1", G)]);
        const sync = (over: Partial<Parameters<ConversationStore["syncConversations"]>[0]>) =>
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
  });
}
