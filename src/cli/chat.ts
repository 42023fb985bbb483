/**
 * `switchboard chat --user NAME`: a terminal chat on the client SDK with CIM's commands. It
 * registers/logs in through the CIM endpoints (so it needs the server's API key: --api-key, env
 * SWITCHBOARD_API_KEY, or ./data/api-key when run next to a local server), then connects to the
 * node the router picks and reconnects by itself when that node dies.
 */
import { existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import WebSocket from "ws";
import { type ClientMessage, SwitchboardClient, tcpTransport } from "../client/node.js";
import type { WebSocketConstructor } from "../client/transport.js";
import { ConfigError } from "../util/errors.js";

export const CHAT_HELP = `commands:
  TEXT                 send to everyone online (CIM's group chat)
  :pu NAME TEXT        private message to NAME (kept for them if they are offline)
  :g GROUP TEXT        message to the group GROUP (you must be a member)
  :mkg GROUP NAME...   create or update GROUP with you and these members
  :olu                 online users
  :his                 recent messages
  :help                this help
  :q                   quit`;

interface ChatArgs {
  user: string;
  api: string;
  apiKey: string;
  transport: "ws" | "tcp";
}

function parseArgs(argv: string[]): ChatArgs {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const user = get("--user");
  if (!user) throw new ConfigError("chat needs --user NAME");
  const keyFile = "data/api-key";
  const apiKey =
    get("--api-key") ?? process.env.SWITCHBOARD_API_KEY ?? (existsSync(keyFile) ? readFileSync(keyFile, "utf8").trim() : undefined);
  if (!apiKey) throw new ConfigError("chat needs the server's API key: --api-key KEY, env SWITCHBOARD_API_KEY, or ./data/api-key");
  const transport = get("--transport") ?? "ws";
  if (transport !== "ws" && transport !== "tcp") throw new ConfigError("--transport is ws or tcp");
  return { user, api: (get("--api") ?? "http://127.0.0.1:5001").replace(/\/$/, ""), apiKey, transport };
}

export async function chat(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  input: NodeJS.ReadableStream = process.stdin,
): Promise<void> {
  const args = parseArgs(argv);
  const say = (line: string) => out.write(`${line}\n`);
  const call = async (path: string, body?: unknown) => {
    const res = await fetch(`${args.api}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json", token: args.apiKey },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = (await res.json().catch(() => ({}))) as { code?: string; message?: string; dataBody?: unknown };
    if (!res.ok || (answer.code !== undefined && answer.code !== "9000")) throw new Error(answer.message ?? `${path}: HTTP ${res.status}`);
    return answer;
  };
  const idOf = async (name: string) =>
    String(((await call("/registerAccount", { reqNo: "chat", userName: name })).dataBody as { userId: number }).userId);
  const me = await idOf(args.user);
  const login = (await call("/login", { reqNo: "chat", userId: me, userName: args.user })).dataBody as { token: string; node: string };
  const names = new Map<string, string>([[me, args.user]]);
  const nameOf = (id: string) => names.get(id) ?? id;
  const history: string[] = [];
  const client = new SwitchboardClient({
    apiUrl: args.api,
    uid: me,
    token: login.token,
    deviceFlag: 0,
    transport: args.transport,
    connect: args.transport === "tcp" ? tcpTransport() : undefined,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
  /** Names of online users, refreshed when a message comes from an id not seen yet. */
  const refreshNames = async () => {
    const users = (await call("/onlineUser")).dataBody as { userId: number; userName: string }[];
    for (const u of users) names.set(String(u.userId), u.userName);
    return users;
  };
  // Messages are shown in arrival order even while a name lookup is under way.
  let shown = Promise.resolve();
  const show = (m: ClientMessage) => {
    shown = shown.then(async () => {
      if (!names.has(m.fromUid)) await refreshNames().catch(() => undefined);
      print(m);
    });
  };
  const print = (m: ClientMessage) => {
    let text = m.text;
    try {
      const j = JSON.parse(m.text);
      if (typeof j?.content === "string") text = j.content;
    } catch {}
    const time = new Date(m.timestamp * 1000).toTimeString().slice(0, 8);
    const where = m.channelType === 2 ? ` [${m.channelId}]` : "";
    const line = `[${time}]${where} ${nameOf(m.fromUid)}: ${text}${m.synced ? "  (while you were away)" : ""}`;
    history.push(line);
    if (history.length > 50) history.shift();
    if (m.fromUid !== me) say(line);
  };
  client.on("message", show);
  client.on("connected", ({ addr }) => say(`* connected to ${addr} as ${args.user} (id ${me})`));
  client.on("reconnecting", ({ attempt, delayMs }) => say(`* connection lost, reconnecting (attempt ${attempt}, in ${delayMs} ms)`));
  client.on("disconnected", ({ reason, willReconnect }) => {
    if (!willReconnect) say(`* disconnected: ${reason}`);
  });
  client.on("error", (err) => say(`* ${err.message}`));
  await client.connect();
  say("* type :help for commands");

  const text = (content: string) => JSON.stringify({ type: 1, content });
  const acked = (r: { messageSeq: number }) => say(`  ✓ stored #${r.messageSeq}`);
  const commands = async (line: string): Promise<boolean> => {
    const [cmd, target, ...rest] = line.split(" ");
    switch (cmd) {
      case ":q":
        return false;
      case ":help":
        say(CHAT_HELP);
        return true;
      case ":olu": {
        const users = await refreshNames();
        say(`online (${users.length}): ${users.map((u) => u.userName).join(", ")}`);
        return true;
      }
      case ":his":
        say(history.length ? history.join("\n") : "(nothing yet)");
        return true;
      case ":pu": {
        if (!target || rest.length === 0) throw new Error("usage: :pu NAME TEXT");
        const id = await idOf(target);
        names.set(id, target);
        acked(await client.send(id, 1, text(rest.join(" "))));
        return true;
      }
      case ":g":
        if (!target || rest.length === 0) throw new Error("usage: :g GROUP TEXT");
        acked(await client.send(target, 2, text(rest.join(" "))));
        return true;
      case ":mkg": {
        if (!target || rest.length === 0) throw new Error("usage: :mkg GROUP NAME...");
        const ids = await Promise.all(rest.map(idOf));
        rest.forEach((n, i) => names.set(ids[i], n));
        await call("/channel", { channel_id: target, channel_type: 2, subscribers: [me, ...ids] });
        say(`* group ${target}: ${[args.user, ...rest].join(", ")}`);
        return true;
      }
      default: {
        if (line.startsWith(":")) throw new Error(`unknown command ${cmd} (:help)`);
        const sent = (await call("/groupRoute", { reqNo: "chat", userId: me, msg: line })).dataBody as { delivered: number };
        say(`  ✓ sent to ${sent.delivered} online`);
        return true;
      }
    }
  };

  const rl = createInterface({ input, terminal: false });
  for await (const raw of rl) {
    const line = raw.trim();
    if (!line) continue;
    try {
      if (!(await commands(line))) break;
    } catch (err) {
      say(`! ${(err as Error).message}`);
    }
  }
  client.close();
  say("* bye");
}
