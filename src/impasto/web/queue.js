// impasto's Queue sidebar (key Q) and queue controls, as an extension of the official ComfyUI frontend.
//
// Data comes from impasto's own endpoints: GET /api/impasto/queue (order, running jobs, paused state) and the
// Jobs API for history. The panel re-fetches when a `status` message carries a new queue sequence number, and
// follows live progress of every job through an observer socket of its own. Nothing polls.
// SPDX-License-Identifier: GPL-3.0-or-later

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const TAB_ID = "impasto-queue";
const TOGGLE_COMMAND = "impasto.ToggleQueueSidebar";
const ROW_HEIGHT = 30; // px: pending rows are virtualised, so 5,000 of them cost what a screenful does
const PENDING_LIMIT = 10000;
const SETTING_PAGE = "impasto.Queue.HistoryPageSize";
const SETTING_GRACE = "impasto.Queue.InterruptGraceSeconds";
const SETTING_START = "impasto.Queue.StartupState";

// --- state -----------------------------------------------------------------------------------------------

const state = {
  seq: null,
  paused: false,
  counts: {},
  running: [],
  pending: [],
  pendingTotal: 0,
  history: [],
  historyTotal: 0,
  historyDone: false,
  repeats: [], // live server-side repeats
  live: new Map(), // job id -> {node, value, max}
};
const views = new Set(); // rendered panels (one per open sidebar element)

// --- server calls ----------------------------------------------------------------------------------------

async function call(path, init = {}) {
  const response = await api.fetchApi(path, init);
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!response.ok) {
    const reason = body?.error?.message ?? body?.error ?? `${response.status}`;
    throw new Error(typeof reason === "string" ? reason : JSON.stringify(reason));
  }
  return body;
}

function post(path, body) {
  const init = { method: "POST" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  return call(path, init);
}

function toast(severity, summary, detail) {
  app.extensionManager?.toast?.add({ severity, summary, detail, life: 3000 });
}

async function act(summary, work) {
  try {
    const result = await work();
    await refresh();
    return result;
  } catch (error) {
    toast("error", summary, String(error.message ?? error));
    return null;
  }
}

// --- refreshing (coalesced: one request set in flight, one more queued at most) ----------------------------

let inFlight = null;
let again = false;

function historyPage() {
  const size = Number(app.extensionManager?.setting?.get(SETTING_PAGE));
  return Number.isFinite(size) && size > 0 ? Math.min(size, 500) : 64;
}

async function fetchAll() {
  const size = Math.max(historyPage(), state.history.length);
  const [queue, history, repeats] = await Promise.all([
    call(`/impasto/queue?limit=${PENDING_LIMIT}`),
    call(`/jobs?status=completed,failed,cancelled&limit=${size}&offset=0`),
    call("/impasto/repeats"),
  ]);
  state.repeats = repeats.repeats.filter((repeat) => repeat.state === "active" || repeat.state === "idle");
  state.seq = queue.seq;
  state.paused = queue.paused;
  state.counts = queue.counts;
  state.running = queue.running;
  state.pending = queue.pending;
  state.pendingTotal = queue.pending_total;
  state.history = history.jobs;
  state.historyTotal = history.pagination.total;
  state.historyDone = !history.pagination.has_more;
  const active = new Set(queue.running.map((job) => job.id));
  for (const id of state.live.keys()) if (!active.has(id)) state.live.delete(id);
}

// One read in flight at a time; changes meanwhile cause one more read, no sooner than REFRESH_GAP_MS after the
// last one started, and every read is shown: a queue that changes faster than the page reads (a server-side
// repeat runs a tiny job many times a second) costs a few reads a second and is never left unshown.
const REFRESH_GAP_MS = 150;

async function refresh() {
  if (inFlight) {
    again = true;
    return inFlight;
  }
  inFlight = (async () => {
    do {
      again = false;
      const started = performance.now();
      try {
        await fetchAll();
      } catch (error) {
        console.warn("impasto queue: could not read the queue", error);
      }
      render();
      const wait = REFRESH_GAP_MS - (performance.now() - started);
      if (again && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    } while (again);
    inFlight = null;
  })();
  return inFlight;
}

let loadingMore = false;
async function loadMoreHistory() {
  if (loadingMore || state.historyDone) return;
  loadingMore = true;
  try {
    const page = await call(
      `/jobs?status=completed,failed,cancelled&limit=${historyPage()}&offset=${state.history.length}`,
    );
    const known = new Set(state.history.map((job) => job.id));
    state.history.push(...page.jobs.filter((job) => !known.has(job.id)));
    state.historyDone = !page.pagination.has_more;
    render();
  } finally {
    loadingMore = false;
  }
}

// --- live progress of every job: an observer socket (websocket.md §6) ------------------------------------

let observerDelay = 500;
function observe() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const base = api.api_base ?? "";
  const id = `impasto-observer-${crypto.randomUUID()}`;
  const socket = new WebSocket(`${scheme}//${location.host}${base}/ws?clientId=${id}`);
  socket.addEventListener("open", () => {
    observerDelay = 500;
    socket.send(JSON.stringify({ type: "feature_flags", data: { impasto_observer: true } }));
    refresh(); // after a reconnect (a server restart, say) the queue may be anything
  });
  socket.addEventListener("message", (event) => {
    if (typeof event.data !== "string") return; // previews
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    onObserved(message.type, message.data ?? {});
  });
  socket.addEventListener("close", () => {
    setTimeout(observe, observerDelay);
    observerDelay = Math.min(observerDelay * 2, 8000);
  });
}

function onObserved(type, data) {
  const id = data.prompt_id;
  if (type === "status") {
    const seq = data.status?.exec_info?.impasto?.seq;
    if (seq !== undefined && seq !== state.seq) refresh();
    return;
  }
  if (typeof id !== "string") return;
  const live = state.live.get(id) ?? { node: null, value: 0, max: 0 };
  if (type === "executing") {
    if (data.node == null) {
      state.live.delete(id);
    } else {
      state.live.set(id, { node: String(data.node), value: 0, max: 0 });
    }
  } else if (type === "progress") {
    state.live.set(id, { ...live, node: String(data.node ?? live.node), value: data.value, max: data.max });
  } else if (type === "execution_start") {
    state.live.set(id, live);
    if (!state.running.some((job) => job.id === id)) refresh(); // started before our last read
  } else {
    return;
  }
  renderRunning();
}

// --- auto-queue stops when pending tasks are cleared (seed-features.md item 6) ----------------------------

function stopAutoQueueOnClear() {
  const clearItems = api.clearItems?.bind(api);
  if (!clearItems) return;
  api.clearItems = async (type) => {
    if (type === "queue") {
      stopAutoQueue();
      clearTimeout(patchTimer); // the clear stops every repeat: an edit waiting to be sent has nothing to update
    }
    return clearItems(type);
  };
}

function stopAutoQueue() {
  const settings = app.extensionManager?.queueSettings;
  if (settings && settings.mode && settings.mode !== "disabled") settings.mode = "disabled";
}

// --- server-side repeat of the current graph (http-api.md §7.10) --------------------------------------------

const REPEAT_KEY = "impasto.repeat"; // the repeat this browser started, so graph edits reach it

function seedSpec() {
  // The seed rules as the page shows them: each widget followed by a control_after_generate widget.
  const targets = [];
  for (const node of app.graph?.nodes ?? []) {
    const widgets = node.widgets ?? [];
    widgets.forEach((widget, index) => {
      const control = widgets[index + 1];
      if (control?.name === "control_after_generate" && typeof control.value === "string") {
        targets.push({ node_id: String(node.id), input: widget.name, mode: control.value });
      }
    });
  }
  return targets.length ? { mode: "fixed", targets } : { mode: "fixed", targets: [] };
}

async function currentRun() {
  const { output, workflow } = await app.graphToPrompt();
  return { prompt: output, extra_data: { extra_pnginfo: { workflow } }, seed: seedSpec() };
}

async function startRepeat() {
  const run = await currentRun();
  const created = await act("Repeat on server", async () => {
    const made = await post("/impasto/repeats", { ...run, client_id: api.clientId ?? api.initialClientId });
    // Known as this tab's repeat at once, so that an edit made while the sidebar re-reads reaches it.
    if (made?.repeat_id) localStorage.setItem(REPEAT_KEY, made.repeat_id);
    return made;
  });
  if (created?.repeat_id) {
    toast("success", "Repeat on server", "Runs go on with this tab closed; Clear pending stops them");
  }
}

async function stopRepeat(id) {
  await act("Stop repeat", () => call(`/impasto/repeats/${id}`, { method: "DELETE" }));
  if (localStorage.getItem(REPEAT_KEY) === id) localStorage.removeItem(REPEAT_KEY);
}

let patchTimer = null;
function followGraphEdits() {
  api.addEventListener("graphChanged", () => {
    const id = localStorage.getItem(REPEAT_KEY);
    if (!id || !state.repeats.some((repeat) => repeat.repeat_id === id)) return;
    clearTimeout(patchTimer);
    patchTimer = setTimeout(async () => {
      if (!state.repeats.some((repeat) => repeat.repeat_id === id)) return; // it ended meanwhile
      try {
        const run = await currentRun();
        await call(`/impasto/repeats/${id}`, {
          method: "PATCH",
          body: JSON.stringify(run),
          headers: { "Content-Type": "application/json" },
        });
      } catch (error) {
        console.warn("impasto queue: the repeat keeps its last prompt", error);
      }
    }, 300);
  });
}

// --- rendering -------------------------------------------------------------------------------------------

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function short(id) {
  return id.slice(0, 8);
}

function seconds(ms) {
  return ms == null ? "" : `${(ms / 1000).toFixed(1)} s`;
}

function button(icon, label, title, testid, onclick) {
  return element(
    "button",
    { class: "impasto-q-button", title, "data-testid": testid, onclick },
    element("i", { class: `pi ${icon}` }),
    element("span", { class: "impasto-q-label" }, label),
  );
}

function mount(root) {
  root.classList.add("impasto-queue");
  const style = element("style", {}, STYLE);
  const toolbar = element(
    "div",
    { class: "impasto-q-toolbar" },
    button("pi-pause", "Pause", "Pause the queue (the running job finishes)", "impasto-queue-pause", () =>
      act("Pause", () => post(state.paused ? "/impasto/queue/resume" : "/impasto/queue/pause")),
    ),
    button("pi-stop", "Clear", "Clear pending jobs (the running job goes on)", "impasto-queue-clear", () =>
      act("Clear pending", () => app.extensionManager.command.execute("Comfy.ClearPendingTasks")),
    ),
    button("pi-times", "Interrupt", "Interrupt the running job", "impasto-queue-interrupt", () => interruptRunning()),
    button("pi-power-off", "Force stop", "End the running job's worker now", "impasto-queue-force", () =>
      forceStopRunning(),
    ),
    button("pi-sync", "Repeat on server", "Keep running this workflow on the server", "impasto-queue-repeat", () =>
      startRepeat(),
    ),
  );
  const paused = element(
    "div",
    { class: "impasto-q-paused", "data-testid": "impasto-queue-paused" },
    "Paused: pending jobs wait until you resume",
  );
  const running = element("div", { class: "impasto-q-running", "data-testid": "impasto-queue-running" });
  const repeats = element("div", { class: "impasto-q-repeats", "data-testid": "impasto-queue-repeats" });
  const pendingHead = element("div", { class: "impasto-q-head" });
  const pendingBox = element("div", { class: "impasto-q-pending", "data-testid": "impasto-queue-pending" });
  const pendingSpacer = element("div", { class: "impasto-q-spacer" });
  pendingBox.append(pendingSpacer);
  const historyHead = element("div", { class: "impasto-q-head" });
  const historyBox = element("div", { class: "impasto-q-history", "data-testid": "impasto-queue-history" });
  root.replaceChildren(
    style,
    toolbar,
    paused,
    repeats,
    element("div", { class: "impasto-q-head" }, "Running"),
    running,
    pendingHead,
    pendingBox,
    historyHead,
    historyBox,
  );
  const view = { root, toolbar, paused, repeats, running, pendingHead, pendingBox, pendingSpacer, historyHead, historyBox };
  pendingBox.addEventListener("scroll", () => renderPendingRows(view));
  historyBox.addEventListener("scroll", () => {
    if (historyBox.scrollTop + historyBox.clientHeight >= historyBox.scrollHeight - 40) loadMoreHistory();
  });
  views.add(view);
  renderView(view);
  refresh();
  return view;
}

function render() {
  for (const view of views) {
    if (!view.root.isConnected) views.delete(view);
    else renderView(view);
  }
}

function renderRunning() {
  for (const view of views) if (view.root.isConnected) renderRunningInto(view);
}

function renderView(view) {
  view.paused.hidden = !state.paused;
  const pause = view.toolbar.querySelector("[data-testid=impasto-queue-pause]");
  pause.querySelector("i").className = `pi ${state.paused ? "pi-play" : "pi-pause"}`;
  pause.querySelector(".impasto-q-label").textContent = state.paused ? "Resume" : "Pause";
  pause.title = state.paused ? "Resume the queue" : "Pause the queue (the running job finishes)";
  renderRunningInto(view);
  renderRepeats(view);
  view.pendingHead.textContent = `Pending (${state.pendingTotal ?? state.pending.length})`;
  view.pendingSpacer.style.height = `${state.pending.length * ROW_HEIGHT}px`;
  renderPendingRows(view);
  view.historyHead.textContent = `History (${state.historyTotal})`;
  renderHistory(view);
}

// A running row is made once per job and then updated in place: progress arrives many times a second, and a
// row replaced that often could not be right-clicked.
function renderRunningInto(view) {
  const existing = new Map([...view.running.querySelectorAll("[data-kind=running]")].map((r) => [r.dataset.jobId, r]));
  const rows = state.running.map((job) => {
    const row = existing.get(job.id) ?? runningRow();
    row.job = job; // what the right-click menu acts on: the latest read
    row.dataset.jobId = job.id;
    row.querySelector(".impasto-q-id").textContent = short(job.id);
    const live = state.live.get(job.id);
    const node = live?.node ?? job.node;
    const step = live && live.max ? ` ${live.value}/${live.max}` : "";
    const title = node ? (job.node_titles?.[node.split(".")[0]] ?? `node ${node}`) : "starting";
    row.querySelector(".impasto-q-node").textContent = `${title}${step}`;
    row.querySelector(".impasto-q-time").textContent = seconds(job.start_time ? Date.now() - job.start_time : null);
    row.querySelector(".impasto-q-bar").style.width = live && live.max ? `${(100 * live.value) / live.max}%` : "0%";
    return row;
  });
  const wanted = rows.length ? rows : [element("div", { class: "impasto-q-empty" }, "Idle")];
  const current = [...view.running.children];
  if (wanted.length !== current.length || wanted.some((row, i) => row !== current[i])) {
    view.running.replaceChildren(...wanted);
  }
}

function runningRow() {
  const row = element(
    "div",
    { class: "impasto-q-row impasto-q-run", dataset: { kind: "running" } },
    element("span", { class: "impasto-q-id" }),
    element("span", { class: "impasto-q-node" }),
    element("span", { class: "impasto-q-time" }),
    element("div", { class: "impasto-q-bar" }),
  );
  row.addEventListener("contextmenu", (event) => menu(event, row.job, "running"));
  return row;
}

function renderRepeats(view) {
  view.repeats.replaceChildren(
    ...state.repeats.map((repeat) =>
      element(
        "div",
        { class: "impasto-q-repeat", dataset: { repeatId: repeat.repeat_id, state: repeat.state } },
        element("i", { class: "pi pi-sync" }),
        element("span", {}, ` ${short(repeat.repeat_id)} ${repeat.state}, ${repeat.runs} runs `),
        element(
          "button",
          { class: "impasto-q-button", title: "Stop this repeat", onclick: () => stopRepeat(repeat.repeat_id) },
          "Stop",
        ),
      ),
    ),
  );
}

function renderPendingRows(view) {
  const box = view.pendingBox;
  const first = Math.max(0, Math.floor(box.scrollTop / ROW_HEIGHT) - 5);
  const count = Math.ceil((box.clientHeight || 300) / ROW_HEIGHT) + 10;
  const rows = [];
  for (const [offset, job] of state.pending.slice(first, first + count).entries()) {
    const index = first + offset;
    const row = element(
      "div",
      {
        class: "impasto-q-row impasto-q-pending-row",
        draggable: "true",
        dataset: { jobId: job.id, kind: "pending" },
      },
      element("span", { class: "impasto-q-pos" }, `${index + 1}.`),
      element("span", { class: "impasto-q-id" }, short(job.id)),
      job.repeat_id ? element("span", { class: "impasto-q-tag", title: "server-side repeat" }, "↻") : null,
    );
    row.style.top = `${index * ROW_HEIGHT}px`;
    row.addEventListener("contextmenu", (event) => menu(event, job, "pending"));
    row.addEventListener("dragstart", (event) => event.dataTransfer.setData("text/plain", job.id));
    row.addEventListener("dragover", (event) => event.preventDefault());
    row.addEventListener("drop", (event) => {
      event.preventDefault();
      const moved = event.dataTransfer.getData("text/plain");
      if (moved && moved !== job.id) act("Move", () => post(`/impasto/jobs/${moved}/move`, { before: job.id }));
    });
    rows.push(row);
  }
  view.pendingBox.replaceChildren(view.pendingSpacer, ...rows);
  if (!state.pending.length) view.pendingBox.append(element("div", { class: "impasto-q-empty" }, "Nothing pending"));
}

function firstImage(job) {
  const preview = job.preview_output;
  if (!preview || !preview.filename) return null;
  const query = new URLSearchParams({
    filename: preview.filename,
    subfolder: preview.subfolder ?? "",
    type: preview.type ?? "output",
  });
  return api.apiURL(`/view?${query}`);
}

function renderHistory(view) {
  const items = state.history.map((job) => {
    const src = firstImage(job);
    const label = `${short(job.id)} · ${job.status}`;
    const item = element(
      "div",
      {
        class: `impasto-q-item impasto-q-${job.status}`,
        dataset: { jobId: job.id, kind: "history", status: job.status },
        title: label,
      },
      src
        ? element("img", { src, alt: job.preview_output.filename, loading: "lazy" })
        : element("span", { class: "impasto-q-noimg" }, job.status),
    );
    item.addEventListener("click", () => src && window.open(src, "_blank"));
    item.addEventListener("contextmenu", (event) => menu(event, job, "history"));
    return item;
  });
  view.historyBox.replaceChildren(
    ...(items.length ? items : [element("div", { class: "impasto-q-empty" }, "No history yet")]),
  );
}

// --- actions ---------------------------------------------------------------------------------------------

function interruptRunning() {
  const job = state.running[0];
  return act("Interrupt", () => post("/interrupt", job ? { prompt_id: job.id } : undefined));
}

function forceStopRunning() {
  const job = state.running[0];
  if (!job) {
    toast("info", "Force stop", "Nothing is running");
    return null;
  }
  return act("Force stop", () => post(`/impasto/jobs/${job.id}/force-stop`));
}

async function cancelJob(job) {
  const answer = await act("Cancel", () => post(`/impasto/jobs/${job.id}/cancel`));
  if (answer && answer.result !== "cancelled") {
    const words = { already_finished: "Already finished", not_running: "Not running", unknown: "Unknown job" };
    toast("info", "Cancel", words[answer.result] ?? answer.result);
  }
}

async function loadWorkflow(job) {
  const detail = await act("Load workflow", () => call(`/jobs/${job.id}`));
  const workflow = detail?.workflow?.extra_data?.extra_pnginfo?.workflow;
  if (workflow) await app.loadGraphData(workflow);
  else if (detail) toast("info", "Load workflow", "This job carries no workflow");
}

async function copyId(job) {
  try {
    await navigator.clipboard.writeText(job.id);
  } catch {
    // clipboard access needs a focused page; the id is in the row's data-job-id either way
  }
  toast("success", "Copied", job.id);
}

function menuItems(job, kind) {
  const items = [];
  if (kind === "pending") {
    items.push(["Delete", () => act("Delete", () => post("/queue", { delete: [job.id] }))]);
    items.push(["Move to front", () => act("Move", () => post(`/impasto/jobs/${job.id}/move`, { to: "front" }))]);
    items.push(["Move to back", () => act("Move", () => post(`/impasto/jobs/${job.id}/move`, { to: "back" }))]);
  } else if (kind === "running") {
    items.push(["Cancel", () => cancelJob(job)]);
    items.push(["Force stop", () => act("Force stop", () => post(`/impasto/jobs/${job.id}/force-stop`))]);
  } else {
    items.push(["Delete", () => act("Delete", () => post("/history", { delete: [job.id] }))]);
  }
  items.push(["Load workflow", () => loadWorkflow(job)]);
  items.push(["Copy job id", () => copyId(job)]);
  return items;
}

let openMenu = null;
function closeMenu() {
  openMenu?.remove();
  openMenu = null;
}

function menu(event, job, kind) {
  event.preventDefault();
  event.stopPropagation();
  closeMenu();
  const list = element("div", { class: "impasto-q-menu", role: "menu", "data-testid": "impasto-queue-menu" });
  for (const [label, run] of menuItems(job, kind)) {
    list.append(
      element("div", { class: "impasto-q-menu-item", role: "menuitem", onclick: () => (closeMenu(), run()) }, label),
    );
  }
  list.style.left = `${event.clientX}px`;
  list.style.top = `${event.clientY}px`;
  document.body.append(list);
  openMenu = list;
}

document.addEventListener("click", (event) => {
  if (openMenu && !openMenu.contains(event.target)) closeMenu();
});
document.addEventListener("keydown", (event) => event.key === "Escape" && closeMenu());

function typing() {
  const focused = document.activeElement;
  if (!focused) return false;
  const tag = focused.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || focused.isContentEditable;
}

// --- registration ----------------------------------------------------------------------------------------

const STYLE = `
.impasto-queue { display: flex; flex-direction: column; height: 100%; font-size: 13px; padding: 6px; gap: 4px; }
.impasto-q-toolbar { display: flex; gap: 4px; flex-wrap: wrap; }
.impasto-q-button i { margin-right: 4px; }
.impasto-q-button { cursor: pointer; border: 1px solid var(--border-color, #555); border-radius: 4px;
  background: var(--comfy-input-bg, #222); color: inherit; padding: 2px 8px; }
.impasto-q-paused { background: #a66; color: #fff; border-radius: 4px; padding: 2px 6px; font-weight: bold; }
.impasto-q-head { font-weight: bold; margin-top: 6px; }
.impasto-q-row { display: flex; gap: 6px; align-items: center; height: ${ROW_HEIGHT}px; padding: 0 4px;
  border-bottom: 1px solid var(--border-color, #333); cursor: default; position: relative; box-sizing: border-box; }
.impasto-q-pending { position: relative; overflow-y: auto; min-height: 90px; max-height: 40%; flex: 1 1 auto; }
.impasto-q-pending-row { position: absolute; left: 0; right: 0; }
.impasto-q-spacer { width: 1px; }
.impasto-q-bar { position: absolute; left: 0; bottom: 0; height: 2px; background: #4a8; }
.impasto-q-id { font-family: monospace; }
.impasto-q-history { display: grid; grid-template-columns: repeat(auto-fill, minmax(72px, 1fr)); gap: 4px;
  overflow-y: auto; flex: 1 1 auto; min-height: 90px; }
.impasto-q-item { aspect-ratio: 1; border: 1px solid var(--border-color, #333); display: flex;
  align-items: center; justify-content: center; overflow: hidden; cursor: pointer; }
.impasto-q-item img { width: 100%; height: 100%; object-fit: cover; }
.impasto-q-failed, .impasto-q-cancelled { opacity: 0.6; }
.impasto-q-empty { opacity: 0.6; padding: 4px; }
.impasto-q-repeat { display: flex; align-items: center; gap: 4px; }
.impasto-q-menu { position: fixed; z-index: 10000; background: var(--comfy-menu-bg, #333); color: inherit;
  border: 1px solid var(--border-color, #555); border-radius: 4px; padding: 2px 0; min-width: 140px; }
.impasto-q-menu-item { padding: 4px 12px; cursor: pointer; }
.impasto-q-menu-item:hover { background: var(--comfy-input-bg, #444); }
`;

app.registerExtension({
  name: "impasto.QueueSidebar",
  commands: [
    {
      id: TOGGLE_COMMAND,
      label: "Toggle the Queue sidebar",
      icon: "pi pi-list",
      function: () => {
        if (!typing()) app.extensionManager.command.execute(`Workspace.ToggleSidebarTab.${TAB_ID}`);
      },
    },
  ],
  keybindings: [{ combo: { key: "q" }, commandId: TOGGLE_COMMAND }],
  settings: [
    {
      id: SETTING_PAGE,
      name: "History page size",
      type: "number",
      defaultValue: 64,
      category: ["impasto", "Queue", "History page size"],
      tooltip: "How many finished jobs the Queue sidebar loads at a time",
    },
    {
      id: SETTING_GRACE,
      name: "Force-stop grace (seconds)",
      type: "number",
      defaultValue: 5,
      category: ["impasto", "Queue", "Force-stop grace"],
      tooltip: "How long an interrupted job may take to stop before its worker is ended",
    },
    {
      id: SETTING_START,
      name: "Queue state at server start",
      type: "combo",
      options: ["last", "run", "paused"],
      defaultValue: "last",
      category: ["impasto", "Queue", "Start-up state"],
      tooltip: "Whether the queue starts running, paused, or as it was left",
    },
  ],
  setup() {
    app.extensionManager.registerSidebarTab({
      id: TAB_ID,
      icon: "pi pi-list",
      title: "Queue",
      tooltip: "Queue (Q)",
      type: "custom",
      render: (root) => {
        mount(root);
      },
    });
    api.addEventListener("status", (event) => {
      const seq = event.detail?.exec_info?.impasto?.seq;
      if (seq !== undefined && seq !== state.seq && views.size) refresh();
    });
    api.addEventListener("reconnected", () => refresh());
    stopAutoQueueOnClear();
    followGraphEdits();
    observe();
  },
});
