/**
 * Two `switchboard chat` processes, driven through stdin, on different nodes: private and group
 * messages, online users, history; then one's node stops and it reconnects and catches up.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { type TestServer, startTestServer } from "../helpers/server.js";

const KEY = "chat-cli-test-key";
const root = new URL("../..", import.meta.url).pathname;

class ChatProcess {
  output = "";
  readonly child: ChildProcess;
  constructor(apiUrl: string, user: string) {
    this.child = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "chat", "--user", user, "--api", apiUrl, "--api-key", KEY],
      {
        cwd: root,
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    this.child.stdout!.on("data", (d) => {
      this.output += d;
    });
    this.child.stderr!.on("data", (d) => {
      this.output += d;
    });
  }
  type(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }
  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.output.match(pattern);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  async quit(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.type(":q");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

describe("switchboard chat", { timeout: 90_000 }, () => {
  let sb: TestServer;
  const chats: ChatProcess[] = [];
  before(async () => {
    sb = await startTestServer({ apiKey: KEY });
  });
  after(async () => {
    await Promise.all(chats.map((c) => c.quit()));
    await sb?.stop();
  });

  test("two clients on different nodes chat; one survives its node stopping and catches up", async () => {
    // Names the router places on different nodes.
    const h = { token: KEY };
    const ids = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      const res = await sb.post("/registerAccount", { userName: `cli${i}` }, h);
      ids.set(String(res.body.dataBody.userId), `cli${i}`);
    }
    const groups = (await sb.post("/route/batch", [...ids.keys()])).body as { uids: string[]; ws_addr: string }[];
    assert.equal(groups.length, 2);
    const [ann, ben] = [ids.get(groups[0].uids[0])!, ids.get(groups[1].uids[0])!];

    const a = new ChatProcess(sb.apiUrl, ann);
    const b = new ChatProcess(sb.apiUrl, ben);
    chats.push(a, b);
    await a.waitFor(new RegExp(`connected to ${groups[0].ws_addr}`));
    await b.waitFor(new RegExp(`connected to ${groups[1].ws_addr}`));

    a.type(":olu");
    await a.waitFor(/online \(2\): /);
    a.type(`:pu ${ben} hello ${ben}, 你好`);
    await a.waitFor(/✓ stored #1/);
    await b.waitFor(new RegExp(`${ann}: hello ${ben}, 你好`));
    b.type("hi everyone");
    await b.waitFor(/✓ sent to 1 online/);
    await a.waitFor(new RegExp(`${ben}: hi everyone`));
    a.type(`:mkg club ${ben}`);
    await a.waitFor(/group club/);
    a.type(":g club welcome to the club");
    await b.waitFor(new RegExp(`\\[club\\] ${ann}: welcome to the club`));

    // Ben's node stops: his client reconnects to the other node and syncs what he missed.
    const bensNode = sb.nodes.find((n) => n.info().external.wsAddr === groups[1].ws_addr)!;
    await bensNode.stop();
    await b.waitFor(/reconnecting/);
    a.type(`:pu ${ben} sent while your node was down`);
    await b.waitFor(new RegExp(`connected to ${groups[0].ws_addr}`));
    await b.waitFor(new RegExp(`${ann}: sent while your node was down`));
    b.type(":his");
    await b.waitFor(/welcome to the club[\s\S]*sent while your node was down/);
    b.type(":nope");
    await b.waitFor(/unknown command :nope/);
  });
});
