/**
 * The ChannelStore contract (channel settings and subscribers), run on every backend through
 * messageStoreContract (message-store.contract.ts).
 */
import assert from "node:assert/strict";
import { describe } from "node:test";
import type { ChannelStore, ConversationStore, MessageLog } from "../../src/store/message-store.js";
import { type ContractOptions, G, P, type StoreCase, type StoreFactory, conv, msg, storeCases } from "./store-fixtures.js";

export function channelStoreContract(name: string, factory: StoreFactory, opts: ContractOptions = {}): void {
  describe(`ChannelStore contract: ${name}`, { skip: opts.skip }, () => {
    const it: StoreCase<ChannelStore> = storeCases(factory);
    // For a case that needs messages to exist.
    const itWithAppend: StoreCase<ChannelStore & Pick<MessageLog, "append">> = storeCases(factory);
    // For a case that needs messages to exist and checks what a channel change does to the message
    // log and to conversations.
    const itWithMessages: StoreCase<
      ChannelStore & Pick<MessageLog, "append" | "getMessagesBySeq"> & Pick<ConversationStore, "syncConversations">
    > = storeCases(factory);

    describe("channels and subscribers", () => {
      // Appends to show that messages alone create no channel.
      itWithAppend("upsertChannel creates and changes only the given flags", async (store) => {
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

      // Appends so that messages, seqs and conversations exist to be dropped or kept.
      itWithMessages("deleteChannel drops channel, subscribers and conversations, keeps messages and seqs", async (store) => {
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
  });
}
