// TaskFlow Events local console. Plain JavaScript, no framework, nothing fetched from
// anywhere but this console and the stack's WebSocket.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("data-") || k.startsWith("aria-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
};
const setState = (node, state, text) => { node.dataset.state = state; node.textContent = text ?? state; };

// api calls the console's JSON API; it resolves to {ok, status, body} and never throws, so a
// console that went away shows as down.
async function api(method, path, body) {
  try {
    const r = await fetch(path, { method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
    let data = {};
    try { data = await r.json(); } catch (_) { data = { error: "HTTP " + r.status }; }
    return { ok: r.ok, status: r.status, body: data };
  } catch (err) {
    return { ok: false, status: 0, body: { error: "the console is down: " + err.message, down: true } };
  }
}

// showErrors puts an API error next to its field (or in the form's result line).
function showErrors(form, prefix, res, resultNode) {
  form.querySelectorAll(".error").forEach((n) => { n.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  resultNode.classList.remove("down");
  if (res.ok) return false;
  const f = res.body.field && document.getElementById(prefix + "-" + res.body.field + "-error");
  if (f) {
    f.textContent = res.body.error;
    const input = document.getElementById(prefix + "-" + res.body.field);
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
    resultNode.textContent = "";
  } else {
    resultNode.textContent = (res.body.down ? "down: " : "error: ") + res.body.error;
    if (res.body.down) resultNode.classList.add("down");
  }
  return true;
}

// ---- timeline -------------------------------------------------------------------------
const events = new Map(); // seq -> summary
let selected = null;      // seq of the event shown in the detail panel
let awaiting = null;      // event_id published from the form, opened when it arrives
let detailTimer = null;
const frames = [];        // WebSocket frames received (text)

function eventMatchesFilter(e) {
  const f = $("#timeline-filter").value;
  return !f || (f === "dlq" ? e.dead_letter : e.topic === f);
}

function timelineItem(e) {
  const t = new Date(e.time);
  const b = el("button", { type: "button", "data-seq": e.seq, "data-event-id": e.event_id, class: e.dead_letter ? "dlq" : "" },
    el("time", { dateTime: e.time }, t.toLocaleTimeString()),
    el("span", { class: "topic" }, e.topic),
    el("span", { class: "type" }, e.type || "(no type)"),
    el("span", { class: "ids" }, "event " + (e.event_id || "-") + " · key " + (e.key || "-")));
  b.setAttribute("aria-label", `${e.type || "event"} on ${e.topic}, event id ${e.event_id || "none"}, key ${e.key || "none"}, at ${t.toLocaleTimeString()}`);
  b.addEventListener("click", () => select(e.seq));
  const li = el("li", {}, b);
  li.hidden = !eventMatchesFilter(e);
  return li;
}

function addEvent(e) {
  if (events.has(e.seq)) return;
  events.set(e.seq, e);
  $("#timeline").prepend(timelineItem(e));
  $("#timeline-empty").hidden = true;
  if (awaiting && e.event_id === awaiting && !e.dead_letter) { awaiting = null; select(e.seq); }
  if (e.dead_letter) scheduleDLQ();
}

$("#timeline-filter").addEventListener("change", () => {
  document.querySelectorAll("#timeline li").forEach((li) => {
    li.hidden = !eventMatchesFilter(events.get(Number(li.firstChild.dataset.seq)));
  });
});

// Arrow keys move between the timeline's events.
$("#timeline").addEventListener("keydown", (ev) => {
  if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
  const buttons = [...document.querySelectorAll("#timeline li:not([hidden]) button")];
  const i = buttons.indexOf(document.activeElement);
  const next = buttons[i + (ev.key === "ArrowDown" ? 1 : -1)];
  if (next) { next.focus(); ev.preventDefault(); }
});

function connectStream() {
  const src = new EventSource("/api/stream");
  src.addEventListener("event", (m) => addEvent(JSON.parse(m.data)));
  src.addEventListener("status", (m) => {
    const s = JSON.parse(m.data).broker;
    setState($("#status-broker"), s === "up" ? "up" : s.startsWith("down") ? "down" : "connecting", s);
  });
  src.onerror = () => setState($("#status-broker"), "down", "down: the console's event stream is not answering (retrying)");
}

// ---- event detail ---------------------------------------------------------------------
function select(seq) {
  selected = seq;
  clearTimeout(detailTimer);
  document.querySelectorAll("#timeline button[aria-current]").forEach((b) => b.removeAttribute("aria-current"));
  const b = document.querySelector(`#timeline button[data-seq="${seq}"]`);
  if (b) b.setAttribute("aria-current", "true");
  loadDetail(seq, 0);
}

function renderEffect(node, eff, describe, pendingText) {
  node.replaceChildren();
  if (eff.state === "down") { setState(node, "down", "down: " + eff.error); return; }
  if (eff.state === "pending") { setState(node, "pending", eff.error || pendingText); return; }
  node.dataset.state = "found";
  node.append(el("ul", {}, ...eff.items.map((it) => el("li", {}, describe(it)))));
}

function renderFrames(e) {
  const node = $("#detail-frames");
  const mine = frames.filter((f) => (e.event_id && f.includes(e.event_id)) || (e.key && f.includes(e.key)));
  node.replaceChildren();
  if (mine.length === 0) { setState(node, "pending", "none on the dev user's WebSocket (yet)"); return; }
  node.dataset.state = "found";
  node.append(el("ul", {}, ...mine.map((f) => el("li", {}, el("code", {}, f)))));
}

async function loadDetail(seq, attempt) {
  const res = await api("GET", "/api/events/" + seq);
  if (selected !== seq) return;
  $("#detail-none").hidden = true;
  $("#detail-body").hidden = false;
  if (!res.ok) {
    $("#detail-meta").replaceChildren(el("dt", {}, "error"), el("dd", { class: "down" }, res.body.error));
    return;
  }
  const d = res.body, e = d.event;
  const meta = [["topic", `${e.topic} (partition ${e.partition}, offset ${e.offset})`], ["type", e.type], ["event id", e.event_id],
    ["CloudEvent id", e.cloudevent_id], ["key", e.key], ["time", e.time]];
  $("#detail-meta").replaceChildren(...meta.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v || "-")]));
  $("#detail-payload").textContent = e.payload ? JSON.stringify(e.payload, null, 2) : "NOT a valid event: " + e.payload_error;
  renderEffect($("#detail-audit"), d.audit,
    (a) => `seq ${a.seq} · ${a.topic} · ${a.kind} · user ${a.user_id || "-"} · task ${a.task_id || "-"} · event ${a.event_id} · received ${a.received_at}`,
    "not in the audit log yet");
  $("#detail-deliveries-box").hidden = !d.deliveries;
  if (d.deliveries) {
    renderEffect($("#detail-deliveries"), d.deliveries,
      (x) => `${x.channel} · ${x.status} · attempts ${x.attempts || 0}${x.last_error ? " · " + x.last_error : ""}`, "no deliveries yet");
  }
  $("#detail-next-box").hidden = !d.next_occurrence;
  if (d.next_occurrence) {
    renderEffect($("#detail-next"), d.next_occurrence,
      (t) => `${t.title} · due ${t.due_at} · occurrence ${t.recurrence.occurrence_index} · task ${t.id}`, "not created yet");
  }
  renderFrames(e);
  const pending = [d.audit, d.deliveries, d.next_occurrence].some((x) => x && x.state !== "found");
  if (pending && attempt < 40) detailTimer = setTimeout(() => loadDetail(seq, attempt + 1), 500);
}

// ---- WebSocket frames -----------------------------------------------------------------
function connectWS(cfg) {
  $("#ws-user").textContent = cfg.dev_user;
  let ws;
  try {
    ws = new WebSocket(cfg.websocket_url, ["bearer", cfg.dev_token]);
  } catch (err) {
    setState($("#status-ws"), "down", "down: " + err.message);
    return;
  }
  ws.onopen = () => setState($("#status-ws"), "up");
  ws.onmessage = (m) => {
    frames.push(m.data);
    if (frames.length > 500) frames.shift();
    const list = $("#frames");
    list.prepend(el("li", {}, el("code", {}, m.data)));
    while (list.children.length > 200) list.lastChild.remove();
    if (selected !== null && events.has(selected)) renderFrames(events.get(selected));
  };
  ws.onclose = (ev) => {
    setState($("#status-ws"), "down", `down: closed (${ev.code}); reconnecting`);
    setTimeout(() => connectWS(cfg), 2000);
  };
}

// ---- publish --------------------------------------------------------------------------
function showPublishFields() {
  const what = new FormData($("#publish-form")).get("what");
  document.querySelectorAll("#publish-form .field[data-for]").forEach((f) => { f.hidden = f.dataset.for !== what; });
}
$("#publish-form").addEventListener("change", showPublishFields);
$("#publish-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target, fd = new FormData(form);
  const body = Object.fromEntries(fd.entries());
  if (body.what !== "task") delete body.rrule;
  const res = await api("POST", "/api/publish", body);
  if (showErrors(form, "publish", res, $("#publish-result"))) return;
  awaiting = res.body.event_id;
  $("#publish-result").textContent = `published ${res.body.type} to ${res.body.topic}: event ${res.body.event_id}`;
  for (const e of events.values()) if (e.event_id === awaiting && !e.dead_letter) { awaiting = null; select(e.seq); }
});

// ---- recurrence playground --------------------------------------------------------------
const monthNames = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

function calendar(occurrences) {
  const byMonth = new Map();
  for (const o of occurrences) {
    const m = o.date.slice(0, 7);
    if (!byMonth.has(m)) byMonth.set(m, new Set());
    byMonth.get(m).add(Number(o.date.slice(8, 10)));
  }
  return [...byMonth.entries()].slice(0, 12).map(([ym, days]) => {
    const [y, m] = ym.split("-").map(Number);
    const first = (new Date(Date.UTC(y, m - 1, 1)).getUTCDay() + 6) % 7; // Monday first
    const len = new Date(Date.UTC(y, m, 0)).getUTCDate();
    const head = el("tr", {}, ...["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"].map((d) => el("th", { scope: "col" }, d)));
    const rows = [];
    let row = el("tr");
    for (let i = 0; i < first; i++) row.append(el("td"));
    for (let d = 1; d <= len; d++) {
      const date = `${ym}-${String(d).padStart(2, "0")}`;
      const td = el("td", { "data-date": date }, d);
      if (days.has(d)) { td.className = "occ"; td.setAttribute("aria-label", `${d} ${monthNames[m - 1]}: occurrence`); }
      row.append(td);
      if ((first + d) % 7 === 0) { rows.push(row); row = el("tr"); }
    }
    if (row.children.length) rows.push(row);
    return el("table", {}, el("caption", {}, `${monthNames[m - 1]} ${y}`), el("thead", {}, head), el("tbody", {}, ...rows));
  });
}

$("#preview-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const q = new URLSearchParams(new FormData(form));
  const res = await api("GET", "/api/preview?" + q);
  $("#preview-list").replaceChildren();
  $("#preview-calendar").replaceChildren();
  $("#preview-text").textContent = "";
  if (showErrors(form, "preview", res, $("#preview-result"))) return;
  const p = res.body;
  $("#preview-text").textContent = `${p.text} (${p.rrule})`;
  $("#preview-list").replaceChildren(...p.occurrences.map((o) =>
    el("li", { "data-date": o.date }, el("time", { dateTime: o.at }, `${o.date} ${o.clock}`))));
  $("#preview-calendar").replaceChildren(...calendar(p.occurrences));
  $("#preview-result").textContent = `${p.occurrences.length} occurrence(s)${p.series_ended ? "; the series ends" : ""}`;
});

// ---- audit log ------------------------------------------------------------------------
async function loadAudit() {
  const form = $("#audit-form"), fd = new FormData(form), q = new URLSearchParams();
  for (const k of ["user", "task"]) if (fd.get(k)) q.set(k, fd.get(k));
  for (const k of ["from", "to"]) if (fd.get(k)) q.set(k, new Date(fd.get(k)).toISOString());
  const res = await api("GET", "/api/audit?" + q);
  const tbody = $("#audit-table tbody");
  if (showErrors(form, "audit", res, $("#audit-result"))) { tbody.replaceChildren(); return; }
  tbody.replaceChildren(...res.body.events.map((a) => el("tr", {},
    el("td", {}, a.seq), el("td", {}, a.occurred_at), el("td", {}, a.topic), el("td", {}, a.kind),
    el("td", {}, a.user_id || "-"), el("td", {}, a.task_id || "-"), el("td", {}, a.event_id))));
  $("#audit-result").textContent = `${res.body.events.length} event(s)`;
}
$("#audit-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadAudit(); });
$("#audit-verify").addEventListener("click", async () => {
  const out = $("#audit-verify-result");
  out.className = "result";
  out.textContent = "verifying…";
  const res = await api("POST", "/api/audit/verify");
  if (!res.ok) { out.classList.add("down"); out.textContent = (res.body.down ? "down: " : "error: ") + res.body.error; return; }
  const v = res.body;
  out.classList.add(v.ok ? "ok" : "down");
  out.textContent = `${v.ok ? "OK" : "NOT OK"}: ${v.rows_checked} row(s) checked through seq ${v.last_seq}` +
    (v.findings.length ? "; findings: " + v.findings.map((f) => JSON.stringify(f)).join("; ") : "");
});

// ---- dead letters ---------------------------------------------------------------------
let dlqTimer = null;
function scheduleDLQ() { clearTimeout(dlqTimer); dlqTimer = setTimeout(loadDLQ, 500); }

async function loadDLQ() {
  const res = await api("GET", "/api/dlq");
  const out = $("#dlq-result"), box = $("#dlq-topics");
  out.className = "result";
  if (!res.ok) { out.classList.add("down"); out.textContent = "down: " + res.body.error; box.replaceChildren(); return; }
  const topics = res.body.topics || [];
  const total = topics.reduce((n, t) => n + t.entries.length, 0);
  out.textContent = `${total} dead-lettered entr${total === 1 ? "y" : "ies"}`;
  const empty = topics.filter((t) => t.entries.length === 0).map((t) => t.topic);
  box.replaceChildren(...(empty.length ? [el("p", { class: "hint" }, "empty: " + empty.join(", "))] : []),
    ...topics.filter((t) => t.entries.length > 0).map((t) => {
    const rows = t.entries.map((x) => {
      const btn = el("button", { type: "button" }, "Replay");
      btn.setAttribute("aria-label", `Replay ${t.topic} ${x.partition}:${x.offset} (event ${x.event_id || x.id})`);
      const result = el("span", { role: "status" });
      btn.addEventListener("click", async () => {
        btn.disabled = true;
        const r = await api("POST", "/api/dlq/replay", { topic: t.topic, partition: x.partition, offset: x.offset });
        result.className = r.ok ? "ok" : "down";
        result.textContent = r.ok ? r.body.result : r.body.error;
        btn.disabled = false;
      });
      return el("tr", {}, el("td", {}, `${x.partition}:${x.offset}`), el("td", {}, x.type || "-"), el("td", {}, x.event_id || x.id || "-"),
        el("td", {}, x.reason || "-"), el("td", {}, btn, " ", result));
    });
    return el("table", { class: "dlq-table" }, el("caption", {}, `${t.topic} (${t.entries.length})`),
      el("thead", {}, el("tr", {}, ...["at", "type", "event id", "reason", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows));
  }));
}
$("#dlq-refresh").addEventListener("click", loadDLQ);

// ---- start ----------------------------------------------------------------------------
(async function start() {
  showPublishFields();
  connectStream();
  loadAudit();
  loadDLQ();
  const cfg = await api("GET", "/api/config");
  if (cfg.ok) connectWS(cfg.body); else setState($("#status-ws"), "down", "down: " + cfg.body.error);
})();
