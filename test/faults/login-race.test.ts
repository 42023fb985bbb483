/**
 * Fault test: duplicate-login race. K simultaneous CONNECTs of one (uid, device), spread over two
 * `switchboard serve` processes on Redis + PostgreSQL, repeated over several rounds. Pass: exactly
 * one session survives each round (the others get a refused CONNACK or a DISCONNECT ConnectKick),
 * presence holds one binding, and a message to the user reaches the survivor only.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ReasonCode } from "../../src/protocol/index.js";
import type { NodeProcess } from "../helpers/cluster-process.js";
import { serviceUrls, skipUnless, uniqueName } from "../helpers/services.js";
import { sleep, until } from "../helpers/wait.js";
import { CountingClient } from "../helpers/wk/counting-client.js";
import { dropClusterSchema, startCluster } from "./helpers/procs.js";
import { report, scaled } from "./helpers/report.js";

const K = scaled(10, 100);
const ROUNDS = scaled(3, 20);

describe(`fault: ${K} simultaneous logins of one device, ${ROUNDS} rounds, 2 processes`, { timeout: scaled(90_000, 600_000) }, async () => {
  const skip = (await skipUnless("redis")) || (await skipUnless("postgres"));
  const clusterName = uniqueName("flr").toLowerCase();
  let nodes: NodeProcess[] = [];
  const clients: CountingClient[] = [];

  before(async () => {
    if (skip) return;
    nodes = await startCluster(2, "lr", clusterName);
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.stop()));
    if (skip) return;
    await dropClusterSchema(clusterName);
  });

  test("exactly one session survives each round; the others are refused or kicked", { skip }, async (t) => {
    const [n1, n2] = nodes;
    await n1.post("/user/token", { uid: "lr-sender", token: "tok-lr-sender" });
    const sender = new CountingClient({ uid: "lr-sender", token: "tok-lr-sender", addr: () => n1.tcpAddr });
    clients.push(sender);
    await sender.start();
    const tally = { accepted: 0, refused: 0, kicked: 0, survivors: 0, otherCloses: 0 };
    const refusedCodes = new Map<number, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const uid = `lr-${round}`;
      assert.equal((await n1.post("/user/token", { uid, token: `tok-${uid}`, device_flag: 1 })).status, 200, "token set");
      const racers = Array.from({ length: K }, (_, i) => {
        const c = new CountingClient({ uid, token: `tok-${uid}`, deviceFlag: 1, addr: () => nodes[i % 2].tcpAddr });
        clients.push(c);
        return c;
      });
      const connacks = await Promise.all(racers.map((c) => c.tryConnect()));
      const accepted = connacks.filter((c) => c?.reasonCode === ReasonCode.Success).length;
      // Kicks of displaced sessions travel over the bus: wait until one is left, then make sure it stays so.
      await until(`round ${round}: one session left`, () => racers.filter((c) => c.isOpen).length <= 1, 10_000, 50);
      await sleep(500);
      const survivors = racers.filter((c) => c.isOpen);
      assert.equal(survivors.length, 1, `round ${round}: exactly one of ${K} sessions survives (${survivors.length})`);
      const bindings = (await n2.post("/user/onlinestatus", [uid])).body as { device_flag: number }[];
      assert.equal(bindings.length, 1, `round ${round}: presence holds one binding: ${JSON.stringify(bindings)}`);
      const ack = await sender.send(uid, 1, `to the survivor of round ${round}`);
      assert.equal(ack.reasonCode, ReasonCode.Success, "message to the racer stored");
      await survivors[0].waitFor("the message at the survivor", () => survivors[0].shown.has(ack.messageId), 5_000);
      await sleep(200);
      const elsewhere = racers.filter((c) => c !== survivors[0] && c.shown.has(ack.messageId)).length;
      assert.equal(elsewhere, 0, `round ${round}: only the survivor got the message`);
      tally.accepted += accepted;
      tally.survivors += survivors.length;
      for (const c of racers) {
        if (c === survivors[0]) continue;
        if (c.refusals.length > 0) {
          tally.refused++;
          for (const code of c.refusals) refusedCodes.set(code, (refusedCodes.get(code) ?? 0) + 1);
        } else if (c.disconnects.includes(ReasonCode.ConnectKick)) tally.kicked++;
        else tally.otherCloses++;
      }
      for (const c of racers) c.close();
    }
    report(t, `duplicate login race (${K} CONNECTs of one uid+device over 2 processes)`, {
      rounds: ROUNDS,
      connects: K * ROUNDS,
      connack_success: tally.accepted,
      refused_connack: tally.refused,
      refused_codes: [...refusedCodes].map(([code, n]) => `${code}x${n}`).join(",") || "none",
      kicked_after_connack: tally.kicked,
      closed_without_reason: tally.otherCloses,
      survivors: tally.survivors,
    });
    assert.equal(tally.survivors, ROUNDS, "one survivor per round");
    assert.equal(tally.otherCloses, 0, "every loser was told why (refused CONNACK or DISCONNECT ConnectKick)");
  });
});
