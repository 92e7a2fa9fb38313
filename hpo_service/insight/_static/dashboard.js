// hpo-service dashboard: polls the server for trial changes (by store cursor) and
// redraws the table; figures are fetched from the server, less often for big studies.
"use strict";

const POLL_MS = 1000;
const PAGE = 100;
const CHEAP = ["history", "history_time", "pareto", "rungs", "timeline"];
const HEAVY = ["parallel", "slice", "intermediate", "importance", "contour"];

const state = {
  study: null, cursor: 0, rows: new Map(), sortKey: "tid", sortDesc: false,
  page: 0, changed: false, figuresAt: {cheap: 0, heavy: 0}, generation: 0, busy: false,
  drawMs: {cheap: 0, heavy: 0},
  // The study is not in the store (its changes answered 404): its changes are asked
  // again only once the studies' list holds it, not at every poll (each 404 is a
  // console error in the browser).
  missing: false,
};
// A figure group waits at least this many times as long as its last redraw took in
// this browser, so redraws take at most a fifth of the page's time (it stays usable
// however slow drawing a big study is here).
const IDLE_PER_DRAW = 4;

const $ = (id) => document.getElementById(id);

function fmt(v) {  // a param's value: an integer exactly (JSON has no int/float)
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : numberText(v);
  if (Array.isArray(v)) return v.map(fmt).join(", ");
  return String(v);
}

function measured(v) {  // a loss or a duration: always numberText, as the CLI's
  if (typeof v === "number") return numberText(v);
  if (Array.isArray(v)) return v.map(measured).join(", ");
  return fmt(v);
}

// A float as Python's format(v, ".6g") writes it, as the CLI and the report do: six
// significant digits without trailing zeros, scientific below 1e-4 and from 1e6
// (3.03973e-06, 0.000123457, 0.5, 1.23457e+06). toPrecision(6) wrote 3.04e-6 as
// 0.00000303973 and 0.5 as 0.500000.
function numberText(v) {
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  if (v === 0) return "0";
  const [mantissa, power] = v.toExponential(5).split("e");
  const exponent = Number(power);  // after rounding: 999999.5 is 1.00000e+6
  if (exponent < -4 || exponent >= 6) {
    const digits = String(Math.abs(exponent)).padStart(2, "0");
    return trimZeros(mantissa) + "e" + (exponent < 0 ? "-" : "+") + digits;
  }
  return trimZeros(v.toFixed(5 - exponent));
}

function trimZeros(text) {  // "0.500000" -> "0.5", "3.00000" -> "3"
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

function counted(n, noun) {  // "1 trial", "2 trials" (as the Python side's counted)
  return n + " " + noun + (n === 1 ? "" : "s");
}

async function getJSON(url) {
  const response = await fetch(url);
  if (response.status === 503) {  // the server cannot read the store: say why
    const body = await response.json().catch(() => ({}));
    showStoreError(body.error || "cannot read the store");
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const error = new Error(url + ": " + response.status);
    error.status = response.status;
    error.reason = body.error;
    throw error;
  }
  showStoreError(null);
  return response.json();
}

function showStudyError(message) {  // the study asked for is not in the store (yet)
  const box = $("study-error");
  box.hidden = message === null;
  box.textContent = message === null ? ""
    : message + " in this store (yet): pick one from the list, or start it"
      + " (this page keeps checking)";
}

function showStoreError(message) {
  const box = $("store-error");
  box.hidden = message === null;
  box.textContent = message === null ? ""
    : message + " (this page shows what it read last and keeps trying)";
}

async function pollStudies() {
  try {
    const {studies} = await getJSON("/api/studies");
    const box = $("studies");
    box.replaceChildren();
    for (const s of studies) {
      const a = document.createElement("a");
      a.href = "#" + encodeURIComponent(s.name);
      a.dataset.name = s.name;
      a.className = s.name === state.study ? "current" : "";
      const share = s.max_evals ? Math.min(1, s.finished / s.max_evals) : 0;
      a.innerHTML = "<span></span> <span class='muted'></span>"
        + "<div class='bar'><div></div></div>";
      a.children[0].textContent = s.name;
      a.children[1].textContent = s.finished + (s.max_evals ? "/" + s.max_evals : "");
      a.querySelector(".bar > div").style.width = (100 * share).toFixed(1) + "%";
      box.appendChild(a);
    }
    if (state.study === null && studies.length) selectStudy(studies[0].name);
    if (state.missing && studies.some((s) => s.name === state.study)) {
      state.missing = false;
      pollChanges();
    }
    if (!studies.length) box.textContent = "no study yet";
  } catch (e) { console.warn(e); }
}

function selectStudy(name) {
  if (name === state.study) return;
  state.study = name; state.cursor = 0; state.rows = new Map(); state.page = 0;
  state.figuresAt = {cheap: 0, heavy: 0}; state.generation += 1; state.busy = false;
  state.drawMs = {cheap: 0, heavy: 0}; state.missing = false;
  showStudyError(null);
  $("study-name").textContent = name;
  for (const a of $("studies").querySelectorAll("a")) {
    a.className = a.dataset.name === name ? "current" : "";
  }
  pollChanges();
}

async function pollChanges() {
  const generation = state.generation;
  const study = state.study;
  if (study === null || state.busy || state.missing) return;
  state.busy = true;
  try {
    const url = "/api/studies/" + encodeURIComponent(study) + "/changes?cursor=" + state.cursor;
    const delta = await getJSON(url).catch((e) => {
      if (generation === state.generation && e.status === 404) {
        showStudyError(e.reason || "no study named " + JSON.stringify(study));
        state.missing = true;  // said on the page: no console warning
        return null;
      }
      throw e;
    });
    if (delta === null || generation !== state.generation) return;
    showStudyError(null);
    state.cursor = delta.cursor;
    for (const row of delta.rows) state.rows.set(row.tid, row);
    showSummary(delta);
    if (delta.rows.length || !state.figuresAt.cheap) {
      state.changed = true;
      renderTable();
    }
    await maybeFigures(generation);
  } catch (e) {
    console.warn(e);
  } finally {
    state.busy = false;
  }
}

function showSummary(delta) {
  $("finished-count").textContent = delta.finished;
  $("budget").textContent = delta.max_evals ? " of " + delta.max_evals : "";
  // done: status ok, failed: status fail, in the words of `hpo-driver status`
  $("counts").textContent = "(" + Object.entries(delta.outcomes || delta.counts)
    .map(([k, v]) => k + "=" + v
      + (k === "done" && delta.infeasible ? " (" + delta.infeasible + " infeasible)" : "")
      + (k === "failed" ? " (status fail)" : ""))
    .join(" ") + ")";
  if (delta.front !== null && delta.front !== undefined) {
    $("best").textContent = "Pareto front: " + counted(delta.front, "trial") + " ("
      + delta.objectives.join(", ") + ")";
  } else {
    const over = delta.max_evals && delta.finished >= delta.max_evals;  // no "yet"
    $("best").textContent = delta.best
      ? "best loss " + measured(delta.best.loss) + " (trial " + delta.best.tid + ")"
      : over ? "no best trial: none of the " + delta.finished + " finished succeeded"
        : "no best trial yet";
  }
  showPruning(delta.pruning, delta.pruning_note);
  const select = $("state-filter");
  for (const s of Object.keys(delta.counts)) {
    if (![...select.options].some((o) => o.value === s)) select.add(new Option(s, s));
  }
}

// What the pruner did, as `hpo-driver status` counts it and the report shows it: the
// rule, the rungs' table (reached, went on, pruned; judged, passed, first and last
// half), the steps a median/percentile pruner stopped trials at, the notes; or why
// there is no rung table (`note`, one line).
function showPruning(pruning, note) {
  $("pruning").hidden = !pruning && !note;
  $("pruning-none").textContent = note || "";
  $("pruning-rule").textContent = pruning ? pruning.rule : "";
  const {head, rows} = pruning ? pruning.rung_table : {head: [], rows: []};
  const table = $("pruning-rungs");
  table.replaceChildren();
  if (rows.length) {
    const tr = table.insertRow();
    for (const h of head) tr.appendChild(document.createElement("th")).textContent = h;
  }
  for (const cells of rows) {
    const tr = table.insertRow();
    for (const text of cells) {
      const td = tr.insertCell(); td.className = "num"; td.textContent = text;
    }
  }
  $("pruning-steps").textContent = pruning ? pruning.pruned_at : "";
  $("pruning-notes").textContent = pruning ? pruning.notes_text.join("\n") : "";
}

async function maybeFigures(generation) {
  if (!state.changed || document.hidden) return;
  const now = Date.now();
  const n = state.rows.size;
  // Bigger studies refresh their figures less often (server work grows with n), and
  // never more often than this browser's drawing time allows (IDLE_PER_DRAW).
  const due = (group, every) =>
    now - state.figuresAt[group] > Math.max(every, IDLE_PER_DRAW * state.drawMs[group]);
  const groups = [];
  if (due("cheap", 1000 + n / 10)) groups.push(["cheap", CHEAP]);
  if (due("heavy", 5000 + n)) groups.push(["heavy", HEAVY]);
  if (!groups.length) return;
  for (const [group] of groups) state.figuresAt[group] = now;
  if (groups.length === 2) state.changed = false;
  const names = groups.flatMap(([, group]) => group);
  const url = "/api/studies/" + encodeURIComponent(state.study) + "/figures?names=" + names.join(",");
  const figures = await getJSON(url);
  if (generation !== state.generation) return;
  // importances from fewer trials than the study has: ask again once due, even if
  // no trial changes meanwhile (the study may have ended)
  if (figures.pending) state.changed = true;
  for (const [group, members] of groups) {
    const start = performance.now();
    for (const name of members) await drawFigure(name, figures[name]);
    state.drawMs[group] = performance.now() - start;
    state.figuresAt[group] = Date.now();
  }
}

function drawFigure(name, figure) {
  const div = $("plot-" + name);
  if (!div) return;
  if (!figure || figure.note) {  // nothing to draw (yet), or why not
    Plotly.purge(div);
    div.textContent = figure ? figure.note : "";
    div.classList.toggle("note", Boolean(figure));
    // one note for two figures (parallel and slice, importance and contour) shows once
    const before = div.previousElementSibling;
    const repeated = figure && before && before.classList.contains("note")
      && before.textContent === figure.note;
    div.hidden = repeated
      || (!figure && ["pareto", "intermediate", "rungs"].includes(name));
    return;
  }
  if (div.classList.contains("note")) {
    div.classList.remove("note");
    div.textContent = "";
  }
  div.hidden = false;
  return Plotly.react(div, figure.data, figure.layout, {responsive: true, displaylogo: false});
}

const COLUMNS = [
  ["tid", "trial"], ["state", "state"], ["loss", "loss"], ["params", "params"],
  ["duration", "duration (s)"], ["owner", "worker"], ["error", "error"],
];

function paramsText(params) {
  return Object.entries(params).map(([k, v]) => k + "=" + fmt(v)).join(" ");
}

function filteredRows() {
  const wanted = $("state-filter").value;
  const text = $("text-filter").value.trim().toLowerCase();
  let rows = [...state.rows.values()];
  if (wanted) rows = rows.filter((r) => r.state === wanted);
  if (text) {
    rows = rows.filter((r) => (paramsText(r.params) + " " + (r.owner || "") + " "
      + (r.error || "") + " " + r.state).toLowerCase().includes(text));
  }
  const key = state.sortKey;
  const value = (r) => key === "params" ? paramsText(r.params) : r[key];
  rows.sort((a, b) => {
    const x = value(a), y = value(b);
    if (x === y) return a.tid - b.tid;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    const order = x < y ? -1 : 1;
    return state.sortDesc ? -order : order;
  });
  return rows;
}

function renderTable() {
  const head = $("trials").tHead;
  if (!head.rows.length) {
    const tr = head.insertRow();
    for (const [key, title] of COLUMNS) {
      const th = document.createElement("th");
      th.textContent = title; th.title = title; th.dataset.key = key;
      th.onclick = () => {
        state.sortDesc = state.sortKey === key ? !state.sortDesc : false;
        state.sortKey = key; renderTable();
      };
      tr.appendChild(th);
    }
  }
  for (const th of head.rows[0].cells) {
    const title = COLUMNS.find(([k]) => k === th.dataset.key)[1];
    th.textContent = title + (th.dataset.key === state.sortKey ? (state.sortDesc ? " ▼" : " ▲") : "");
  }
  const rows = filteredRows();
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  state.page = Math.min(state.page, pages - 1);
  const body = document.createElement("tbody");
  for (const r of rows.slice(state.page * PAGE, (state.page + 1) * PAGE)) {
    const tr = body.insertRow();
    tr.dataset.tid = r.tid;
    const cells = [r.tid, r.state, measured(r.loss), paramsText(r.params), measured(r.duration),
                   r.owner || "", r.error || ""];
    cells.forEach((text, i) => {
      const td = tr.insertCell();
      td.textContent = text; td.title = text;
      if ([0, 2, 4].includes(i)) td.className = "num";
      if (i === 1) td.className = "state-" + r.state;
    });
  }
  $("trials").replaceChild(body, $("trials").tBodies[0]);
  $("table-info").textContent = counted(rows.length, "trial") + ", page " + (state.page + 1) + "/" + pages;
}

$("state-filter").onchange = () => { state.page = 0; renderTable(); };
$("text-filter").oninput = () => { state.page = 0; renderTable(); };
$("prev").onclick = () => { state.page = Math.max(0, state.page - 1); renderTable(); };
$("next").onclick = () => { state.page += 1; renderTable(); };
window.addEventListener("hashchange", () => {
  const name = decodeURIComponent(location.hash.slice(1));
  if (name) selectStudy(name);
});

const fromHash = decodeURIComponent(location.hash.slice(1));
if (fromHash || INITIAL_STUDY) selectStudy(fromHash || INITIAL_STUDY);
pollStudies();
setInterval(pollStudies, 5000);
setInterval(pollChanges, POLL_MS);
