// The live dashboard: one server-sent event per second, rates from consecutive snapshots.
const $ = (id) => document.getElementById(id);
const history = [];
let previous;

function text(el, value) {
  el.textContent = value;
}

function rate(now, before, key, seconds) {
  return before ? Math.max(0, (now.process[key] - before.process[key]) / seconds) : 0;
}

function render(snap) {
  const seconds = previous ? Math.max(0.001, (snap.time - previous.time) / 1000) : 1;
  const rIn = rate(snap, previous, "messagesIn", seconds);
  const rOut = rate(snap, previous, "messagesOut", seconds);
  text($("rate-in"), rIn.toFixed(0));
  text($("rate-out"), rOut.toFixed(0));
  text($("acks"), rate(snap, previous, "recvAcks", seconds).toFixed(0));
  text($("resends"), rate(snap, previous, "recvResends", seconds).toFixed(0));
  const p = snap.process;
  text($("fanout"), p.fanOutMessages ? (p.fanOutRecipients / p.fanOutMessages).toFixed(1) : "–");
  text($("store"), p.storeBatches ? ((p.storeSeconds / p.storeBatches) * 1000).toFixed(2) : "–");
  history.push({ rIn, rOut });
  if (history.length > 60) history.shift();
  spark();
  nodes(snap.nodes);
  previous = snap;
}

function spark() {
  const svg = $("spark");
  const max = Math.max(1, ...history.map((h) => Math.max(h.rIn, h.rOut)));
  const line = (key, color) => {
    const pts = history.map((h, i) => `${(i / 59) * 300},${88 - (h[key] / max) * 84}`).join(" ");
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"/>`;
  };
  svg.innerHTML = `${line("rIn", "#2563eb")}${line("rOut", "#16a34a")}<text x="2" y="10" font-size="9" fill="#6b7280">${max.toFixed(0)}/s</text>`;
}

function nodes(list) {
  const body = $("nodes");
  body.replaceChildren(
    ...list.map((n) => {
      const tr = document.createElement("tr");
      tr.dataset.node = n.id;
      for (const v of [n.id, n.connections, n.ws_addr, n.tcp_addr, `${Math.max(0, Math.round((Date.now() - n.last_seen) / 1000))} s ago`]) {
        const td = document.createElement("td");
        td.textContent = String(v);
        tr.append(td);
      }
      return tr;
    }),
  );
  const svg = $("spread");
  const max = Math.max(1, ...list.map((n) => n.connections));
  const w = 300 / Math.max(1, list.length);
  svg.innerHTML = list
    .map((n, i) => {
      const h = (n.connections / max) * 96;
      const x = i * w + 6;
      return `<rect x="${x}" y="${118 - h}" width="${w - 12}" height="${h}" fill="#2563eb" rx="3"/>
        <text x="${x + (w - 12) / 2}" y="132" font-size="10" text-anchor="middle" fill="#1d2330">${escapeXml(n.id)}</text>
        <text x="${x + (w - 12) / 2}" y="${114 - h}" font-size="10" text-anchor="middle" fill="#1d2330">${n.connections}</text>`;
    })
    .join("");
}

function escapeXml(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

const events = new EventSource("/dashboard/events");
events.addEventListener("snapshot", (e) => {
  text($("live"), "live");
  $("live").className = "ok";
  render(JSON.parse(e.data));
});
events.onerror = () => {
  text($("live"), "reconnecting…");
  $("live").className = "bad";
};

$("route-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const uids = $("route-uids")
    .value.split(/[\s,]+/)
    .filter(Boolean);
  const intranet = $("route-intranet").checked ? 1 : 0;
  text($("route-error"), "");
  const res = await fetch(`/route/batch?intranet=${intranet}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(uids),
  });
  const body = await res.json();
  if (!res.ok) {
    text($("route-error"), `${res.status}: ${body.message}`);
    $("route-groups").replaceChildren();
    return;
  }
  $("route-groups").replaceChildren(
    ...body.map((g) => {
      const tr = document.createElement("tr");
      const a = document.createElement("td");
      a.textContent = `${g.ws_addr}  ·  ${g.tcp_addr}`;
      const b = document.createElement("td");
      b.textContent = g.uids.join(", ");
      tr.append(a, b);
      return tr;
    }),
  );
});
