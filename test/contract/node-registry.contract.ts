/**
 * The NodeRegistry contract, run on every backend (test/cluster/node-registry.test.ts). The
 * factory gives `count` registry instances over one fresh, empty backend — several processes'
 * view of the same cluster — and a cleanup that closes them and removes what they stored.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { NodeEvent, NodeInfo, NodeRegistry } from "../../src/cluster/node-registry.js";
import { InvalidArgumentError, UnavailableError } from "../../src/util/errors.js";

export interface RegistryCluster {
  registries: NodeRegistry[];
  cleanup(): Promise<void>;
}

export interface NodeRegistryContractOptions {
  skip?: false | string;
  /** The sweep interval the factory gave its registries (bounds how long a TTL leave may take). */
  sweepMs: number;
}

/** Short, so expiry tests are quick; long enough that an announce is never late by accident. */
const TTL_MS = 300;
const LONG_TTL_MS = 30_000;
/** Slack for event delivery over pub/sub and for a busy machine. */
const SLACK_MS = 2_000;

let port = 5100;
export function nodeInfo(id: string, over: Partial<NodeInfo> = {}): NodeInfo {
  port++;
  return {
    id,
    external: { tcpAddr: `10.0.0.1:${port}`, wsAddr: `ws://10.0.0.1:${port + 100}`, wssAddr: `wss://10.0.0.1:${port + 200}` },
    intranet: { tcpAddr: `192.168.0.1:${port}`, wsAddr: `ws://192.168.0.1:${port + 100}`, wssAddr: `wss://192.168.0.1:${port + 200}` },
    apiUrl: "http://10.0.0.1:5001",
    connections: 0,
    startedAt: 1_700_000_000_000,
    lastSeen: 0,
    ...over,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a watcher has seen, with a way to wait for a particular event. */
export class EventLog {
  readonly events: NodeEvent[] = [];
  private waiters: { pred: (e: NodeEvent) => boolean; resolve: (e: NodeEvent) => void }[] = [];
  readonly stop: () => void;

  constructor(registry: NodeRegistry) {
    this.stop = registry.watch((event) => {
      this.events.push(event);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(event)) return true;
        w.resolve(event);
        return false;
      });
    });
  }

  /** The first matching event, past or future; fails after `timeoutMs`. */
  async waitFor(pred: (e: NodeEvent) => boolean, what: string, timeoutMs = SLACK_MS): Promise<NodeEvent> {
    const seen = this.events.find(pred);
    if (seen) return seen;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        new Promise<NodeEvent>((resolve) => this.waiters.push({ pred, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no ${what} within ${timeoutMs} ms; saw ${JSON.stringify(this.summary())}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  summary(): string[] {
    return this.events.map((e) => (e.type === "leave" ? `leave ${e.nodeId}` : `${e.type} ${e.node.id}`));
  }
}

const is = (type: NodeEvent["type"], id: string) => (e: NodeEvent) => e.type === type && (e.type === "leave" ? e.nodeId : e.node.id) === id;

function withoutLastSeen(node: NodeInfo): Omit<NodeInfo, "lastSeen"> {
  const { lastSeen: _lastSeen, ...rest } = node;
  return rest;
}

export function nodeRegistryContract(
  name: string,
  factory: (count: number) => Promise<RegistryCluster>,
  opts: NodeRegistryContractOptions,
): void {
  const expiryBudget = TTL_MS + opts.sweepMs + SLACK_MS;

  describe(`NodeRegistry contract: ${name}`, { skip: opts.skip }, () => {
    const it = (title: string, count: number, fn: (r: NodeRegistry[]) => Promise<void>) =>
      test(title, async () => {
        const { registries, cleanup } = await factory(count);
        try {
          await fn(registries);
        } finally {
          await cleanup();
        }
      });

    /** Watch, then list: once list() resolves, the watch is live (the documented pattern). */
    const watching = async (registry: NodeRegistry) => {
      const log = new EventLog(registry);
      await registry.list();
      return log;
    };

    it("list is empty on a fresh backend", 1, async ([r]) => {
      assert.deepEqual(await r.list(), []);
    });

    it("announce lists nodes sorted by id, with every field kept and lastSeen stamped", 1, async ([r]) => {
      const before = Date.now();
      const nodes = [nodeInfo("node-c"), nodeInfo("node-a", { connections: 7 }), nodeInfo("node-b")];
      for (const node of nodes) await r.announce(node, LONG_TTL_MS);
      const listed = await r.list();
      assert.deepEqual(
        listed.map((n) => n.id),
        ["node-a", "node-b", "node-c"],
      );
      for (const node of nodes) {
        const got = listed.find((n) => n.id === node.id)!;
        assert.deepEqual(withoutLastSeen(got), withoutLastSeen(node));
        // Stamped by the registry (Redis' clock may differ a little from ours).
        assert.ok(Math.abs(got.lastSeen - before) < 60_000, `lastSeen ${got.lastSeen} is about now (${before})`);
      }
    });

    it("a second instance sees the first one's nodes and their changes", 2, async ([a, b]) => {
      await a.announce(nodeInfo("node-1", { connections: 1 }), LONG_TTL_MS);
      assert.deepEqual(
        (await b.list()).map((n) => [n.id, n.connections]),
        [["node-1", 1]],
      );
      await a.announce(nodeInfo("node-1", { connections: 42 }), LONG_TTL_MS);
      assert.deepEqual(
        (await b.list()).map((n) => [n.id, n.connections]),
        [["node-1", 42]],
      );
    });

    it("watchers on every instance get join, update (new address) and leave in order", 3, async ([a, b, c]) => {
      const logB = await watching(b);
      const logC = await watching(c);
      const node = nodeInfo("node-x", { connections: 3 });
      await a.announce(node, LONG_TTL_MS);
      const join = await logB.waitFor(is("join", "node-x"), "join on b");
      assert.equal(join.type === "join" && join.node.apiUrl, node.apiUrl);
      assert.equal(join.type === "join" && join.node.connections, 3, "a join carries the load of that moment");
      await a.announce({ ...node, apiUrl: "http://10.0.0.9:5001", connections: 5 }, LONG_TTL_MS);
      const update = await logC.waitFor(is("update", "node-x"), "update on c");
      assert.equal(update.type === "update" && update.node.apiUrl, "http://10.0.0.9:5001");
      assert.equal(update.type === "update" && update.node.connections, 5);
      await a.withdraw("node-x");
      for (const log of [logB, logC]) {
        await log.waitFor(is("leave", "node-x"), "leave");
        assert.deepEqual(log.summary(), ["join node-x", "update node-x", "leave node-x"]);
      }
      assert.deepEqual(await b.list(), []);
    });

    it("a heartbeat that changes nothing is not an update; a restart (new startedAt) is", 2, async ([a, b]) => {
      const log = await watching(b);
      const node = nodeInfo("node-1");
      await a.announce(node, LONG_TTL_MS);
      await a.announce({ ...node, lastSeen: 123 }, LONG_TTL_MS);
      await a.announce(nodeInfo("node-2"), LONG_TTL_MS);
      // Events of one announcer arrive in order: an update for node-1 would precede node-2's join.
      await log.waitFor(is("join", "node-2"), "join node-2");
      assert.deepEqual(log.summary(), ["join node-1", "join node-2"]);
      await a.announce({ ...node, startedAt: node.startedAt + 1 }, LONG_TTL_MS);
      const update = await log.waitFor(is("update", "node-1"), "update after restart");
      assert.equal(update.type === "update" && update.node.startedAt, node.startedAt + 1);
    });

    it("a heartbeat with a new load is not an event; list() (and loads(), if any) show the load", 2, async ([a, b]) => {
      const log = await watching(b);
      const node = nodeInfo("node-1", { connections: 1 });
      await a.announce(node, LONG_TTL_MS);
      await a.announce({ ...node, connections: 2 }, LONG_TTL_MS);
      await a.announce({ ...node, connections: 9 }, LONG_TTL_MS);
      await a.announce(nodeInfo("node-2"), LONG_TTL_MS);
      // Events of one announcer arrive in order: an update for node-1 would precede node-2's join.
      await log.waitFor(is("join", "node-2"), "join node-2");
      assert.deepEqual(log.summary(), ["join node-1", "join node-2"]);
      assert.equal((await b.list()).find((n) => n.id === "node-1")?.connections, 9);
      if (b.loads) {
        const loads = await b.loads();
        assert.equal(loads.get("node-1")?.connections, 9);
        assert.equal(loads.get("node-2")?.connections, 0);
        assert.ok(Math.abs(loads.get("node-1")!.lastSeen - Date.now()) < 60_000, "lastSeen is about now");
      }
    });

    it("withdraw removes a node now and tells watchers; withdrawing an unknown node is a no-op", 2, async ([a, b]) => {
      const log = await watching(b);
      await a.announce(nodeInfo("node-1"), LONG_TTL_MS);
      await a.announce(nodeInfo("node-2"), LONG_TTL_MS);
      await a.withdraw("node-1");
      await a.withdraw("node-404");
      await log.waitFor(is("leave", "node-1"), "leave node-1");
      assert.deepEqual(
        (await b.list()).map((n) => n.id),
        ["node-2"],
      );
      assert.ok(!log.events.some(is("leave", "node-404")), "no leave for a node that never joined");
    });

    it("a node that stops announcing is gone after its TTL and watchers get leave", 2, async ([a, b]) => {
      const log = await watching(b);
      await a.announce(nodeInfo("node-dies"), TTL_MS);
      await a.announce(nodeInfo("node-lives"), TTL_MS);
      assert.deepEqual(
        (await b.list()).map((n) => n.id),
        ["node-dies", "node-lives"],
      );
      const started = Date.now();
      // node-lives keeps its heartbeat; node-dies never calls again.
      const heartbeat = setInterval(() => void a.announce(nodeInfo("node-lives"), TTL_MS).catch(() => {}), TTL_MS / 3);
      try {
        await log.waitFor(is("leave", "node-dies"), "leave after TTL", expiryBudget);
        assert.ok(Date.now() - started >= TTL_MS - 50, "not before its TTL");
        assert.deepEqual(
          (await b.list()).map((n) => n.id),
          ["node-lives"],
        );
        await sleep(TTL_MS);
        assert.ok(!log.events.some(is("leave", "node-lives")), "a node that keeps announcing stays");
      } finally {
        clearInterval(heartbeat);
      }
    });

    it("a node that left by TTL and announces again joins again", 2, async ([a, b]) => {
      const log = await watching(b);
      await a.announce(nodeInfo("node-1"), TTL_MS);
      await log.waitFor(is("leave", "node-1"), "leave", expiryBudget);
      await a.announce(nodeInfo("node-1"), LONG_TTL_MS);
      await log.waitFor((e) => e.type === "join" && e.node.id === "node-1" && log.events.indexOf(e) > 0, "second join");
      assert.deepEqual(log.summary(), ["join node-1", "leave node-1", "join node-1"]);
    });

    it("unsubscribing stops one watcher only", 2, async ([a, b]) => {
      const gone = await watching(b);
      const stays = await watching(b);
      gone.stop();
      await a.announce(nodeInfo("node-1"), LONG_TTL_MS);
      await stays.waitFor(is("join", "node-1"), "join on the remaining watcher");
      assert.deepEqual(gone.events, []);
    });

    it("a watcher that throws does not stop the others", 1, async ([r]) => {
      r.watch(() => {
        throw new Error("listener bug");
      });
      const log = await watching(r);
      await r.announce(nodeInfo("node-1"), LONG_TTL_MS);
      await log.waitFor(is("join", "node-1"), "join despite a throwing listener");
    });

    it("bad arguments are refused", 1, async ([r]) => {
      await assert.rejects(() => r.announce(nodeInfo(""), LONG_TTL_MS), InvalidArgumentError);
      await assert.rejects(() => r.announce(nodeInfo("node-1"), 0), InvalidArgumentError);
      await assert.rejects(() => r.announce(nodeInfo("node-1"), 1.5), InvalidArgumentError);
      assert.deepEqual(await r.list(), []);
    });

    it("a closed registry refuses calls; the others keep working", 2, async ([a, b]) => {
      await a.announce(nodeInfo("node-1"), LONG_TTL_MS);
      await a.close();
      await assert.rejects(() => a.list(), UnavailableError);
      await assert.rejects(() => a.announce(nodeInfo("node-2"), LONG_TTL_MS), UnavailableError);
      assert.deepEqual(
        (await b.list()).map((n) => n.id),
        ["node-1"],
      );
    });
  });
}
