// Baseline: plain `ws` + Redis pub/sub broadcast. Every message is published
// to one channel; every node receives all of them and delivers to the sockets it holds.
import { Redis } from "ioredis";
import { type WebSocket, WebSocketServer } from "ws";

const [port, redisUrl] = [Number(process.argv[2]), process.argv[3]];
const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const byUid = new Map<string, Set<WebSocket>>();
const groups = new Map<string, Set<string>>();
const channel = "bench:ws-redis:all";

function deliver(to: string, data: string): void {
  for (const ws of byUid.get(to) ?? []) ws.send(data);
}
sub.subscribe(channel);
sub.on("message", (_c, raw: string) => {
  const m = JSON.parse(raw) as { to?: string; room?: string; data: string };
  if (m.to) deliver(m.to, m.data);
  else if (m.room) for (const uid of groups.get(m.room) ?? []) deliver(uid, m.data);
});
const wss = new WebSocketServer({ port, host: "127.0.0.1" });
wss.on("connection", (ws, req) => {
  const uid = new URL(req.url ?? "/", "http://x").searchParams.get("uid") ?? "";
  if (!byUid.has(uid)) byUid.set(uid, new Set());
  byUid.get(uid)!.add(ws);
  ws.on("message", (raw) => {
    const m = JSON.parse(String(raw)) as { join?: string; to?: string; room?: string; data: string };
    if (m.join) {
      if (!groups.has(m.join)) groups.set(m.join, new Set());
      groups.get(m.join)!.add(uid);
      return;
    }
    pub.publish(channel, JSON.stringify(m));
  });
  ws.on("close", () => byUid.get(uid)?.delete(ws));
});
wss.on("listening", () => process.stdout.write("ready\n"));
process.on("SIGTERM", () => process.exit(0));
