// The chat page on Switchboard's own client SDK (web/dist/switchboard-client.js), over WebSocket.
import { SwitchboardClient } from "./dist/switchboard-client.js";

const $ = (id) => document.getElementById(id);
const PERSON = 1;
const GROUP = 2;
const api = location.origin;
/** "type:id" -> { channelId, channelType, messages: [], unread } */
const conversations = new Map();
let client;
let me;
let apiKey = "";
let current;

const key = (type, id) => `${type}:${id}`;

function conversation(channelId, channelType) {
  const k = key(channelType, channelId);
  let c = conversations.get(k);
  if (!c) {
    c = { channelId, channelType, messages: [], unread: 0 };
    conversations.set(k, c);
  }
  return c;
}

function renderList() {
  $("conv-list").replaceChildren(
    ...[...conversations.values()].map((c) => {
      const li = document.createElement("li");
      li.dataset.channel = key(c.channelType, c.channelId);
      li.className = current === c ? "active" : "";
      li.textContent = `${c.channelType === GROUP ? "# " : ""}${c.channelId}`;
      if (c.unread > 0) {
        const b = document.createElement("span");
        b.className = "badge";
        b.textContent = String(c.unread);
        li.append(b);
      }
      li.onclick = () => open(c);
      return li;
    }),
  );
}

function renderLog() {
  const log = $("log");
  if (!current) return log.replaceChildren();
  log.replaceChildren(
    ...current.messages.map((m) => {
      const div = document.createElement("div");
      div.className = `msg${m.fromUid === me ? " mine" : ""}`;
      div.dataset.state = m.state;
      const text = document.createElement("span");
      text.textContent = m.text;
      const meta = document.createElement("small");
      const who = current.channelType === GROUP && m.fromUid !== me ? `${m.fromUid} · ` : "";
      meta.textContent = `${who}${m.state}${m.synced ? " · arrived while you were away" : ""}`;
      div.append(text, meta);
      return div;
    }),
  );
  log.scrollTop = log.scrollHeight;
}

function open(c) {
  current = c;
  c.unread = 0;
  $("title").textContent = c.channelType === GROUP ? `# ${c.channelId}` : c.channelId;
  $("text").disabled = false;
  $("send").disabled = false;
  renderList();
  renderLog();
  $("text").focus();
}

function textOf(payload) {
  // WuKongIM apps send {"type":1,"content":"…"}; show the content when it is that.
  try {
    const j = JSON.parse(payload);
    if (j && typeof j.content === "string") return j.content;
  } catch {}
  return payload;
}

function onMessage(m) {
  const c = conversation(m.channelId, m.channelType);
  if (c.messages.some((x) => x.messageId === m.messageId)) return;
  c.messages.push({
    messageId: m.messageId,
    seq: m.messageSeq,
    fromUid: m.fromUid,
    text: textOf(m.text),
    state: `#${m.messageSeq}`,
    synced: m.synced,
  });
  c.messages.sort((a, b) => (a.seq || Number.MAX_SAFE_INTEGER) - (b.seq || Number.MAX_SAFE_INTEGER));
  if (c !== current && m.fromUid !== me) c.unread++;
  renderList();
  if (c === current) renderLog();
}

async function post(path, body) {
  const res = await fetch(`${api}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", token: apiKey },
    body: JSON.stringify(body),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(answer.message || `${path}: ${res.status}`);
  return answer;
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  me = $("uid").value.trim();
  let token = $("token").value.trim();
  apiKey = $("apikey").value.trim();
  try {
    if (!token) {
      if (!apiKey) throw new Error("give your token, or the server's API key");
      token = crypto.randomUUID();
      await post("/user/token", { uid: me, token, device_flag: 1 });
    }
    client = new SwitchboardClient({ apiUrl: api, uid: me, token, deviceFlag: 1 });
    client.on("message", onMessage);
    client.on("connected", ({ addr }) => {
      $("status").textContent = `online as ${me} · ${addr}`;
      $("status").className = "ok";
    });
    client.on("reconnecting", () => {
      $("status").textContent = "reconnecting…";
      $("status").className = "bad";
    });
    client.on("disconnected", ({ reason, willReconnect }) => {
      if (!willReconnect) {
        $("status").textContent = `offline: ${reason}`;
        $("status").className = "bad";
      }
    });
    await client.connect();
    $("login").parentElement.hidden = true;
    $("chat").hidden = false;
    document.title = `${me} · Switchboard chat`;
  } catch (err) {
    $("login-error").textContent = err.message;
  }
});

$("new-chat").addEventListener("submit", (e) => {
  e.preventDefault();
  const peer = $("peer").value.trim();
  if (!peer) return;
  $("peer").value = "";
  open(conversation(peer, PERSON));
});

$("new-group").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("group-error").textContent = "";
  const id = $("group-id").value.trim();
  const members = $("group-members")
    .value.split(/[\s,]+/)
    .filter(Boolean);
  try {
    if (!apiKey) throw new Error("creating a group needs the server's API key (log in with it)");
    await post("/channel", { channel_id: id, channel_type: GROUP, subscribers: [...new Set([me, ...members])] });
    open(conversation(id, GROUP));
  } catch (err) {
    $("group-error").textContent = err.message;
  }
});

$("compose").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("text").value;
  if (!text || !current) return;
  $("text").value = "";
  const c = current;
  const entry = { messageId: undefined, seq: 0, fromUid: me, text, state: "sending…", synced: false };
  c.messages.push(entry);
  renderLog();
  try {
    const ack = await client.send(c.channelId, c.channelType, JSON.stringify({ type: 1, content: text }));
    entry.messageId = ack.messageId;
    entry.seq = ack.messageSeq;
    entry.state = `✓ stored #${ack.messageSeq}`;
  } catch (err) {
    entry.state = `✗ not sent: ${err.message}`;
  }
  if (c === current) renderLog();
});
