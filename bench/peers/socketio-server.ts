// Peer: Socket.IO 4 with the sharded Redis adapter. A client joins the room of its uid; "msg"
// {to, data} goes to room `to` on whichever node holds it; "group" {room, data} to a room.
import { createServer } from "node:http";
import { createShardedAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

const [port, redisUrl] = [Number(process.argv[2]), process.argv[3]];
const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  adapter: createShardedAdapter(pub, sub, { subscriptionMode: "dynamic-private" }),
});
io.on("connection", (socket) => {
  const uid = String(socket.handshake.query.uid);
  socket.join(uid);
  socket.on("join", (room: string) => socket.join(room));
  socket.on("msg", (m: { to: string; data: string }) => io.to(m.to).emit("msg", m.data));
  socket.on("group", (m: { room: string; data: string }) => io.to(m.room).emit("msg", m.data));
});
http.listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
process.on("SIGTERM", () => process.exit(0));
