// The drill-history page: reads the page's JSON endpoints and builds the tables with textContent
// (a record's text is never read as markup); the two charts are SVG the server rendered escaped.
"use strict";

const BASE = document.body.dataset.base;            // ".../dr-drill/"
const AIRFLOW = BASE.replace(/dr-drill\/$/, "");     // the Airflow UI's root
const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function link(text, href, top) {
  const a = el("a", text);
  a.href = href;
  if (top) a.target = "_top";
  return a;
}

function seconds(value) {
  if (value === null || value === undefined) return "—";
  if (value >= 172800) return `${(value / 86400).toFixed(1)} d`;
  if (value >= 7200) return `${(value / 3600).toFixed(1)} h`;
  if (value >= 120) return `${(value / 60).toFixed(1)} min`;
  return `${value.toFixed(1)} s`;
}

function objective(measured, target, met) {
  const cell = el("td");
  const shown = el("span", `${seconds(measured)} / ${seconds(target)}`);
  if (met === true) shown.className = "met";
  if (met === false) { shown.className = "missed"; shown.textContent += " missed"; }
  cell.append(shown);
  return cell;
}

function badge(status) {
  return el("span", status ? status.toUpperCase() : "NO DRILL", `badge ${status || "none"}`);
}

function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC") : "—";
}

function drillUrl(table, drill, what) {
  return `${BASE}tables/${encodeURIComponent(table)}/drills/${encodeURIComponent(drill)}/${what}`;
}

async function getJson(url) {
  const answer = await fetch(url, { credentials: "same-origin" });
  if (!answer.ok) throw new Error(`${answer.status}: ${(await answer.json()).detail}`);
  return answer.json();
}

function chainCell(chain) {
  const cell = el("td");
  if (!chain) { cell.append(el("span", "no records", "badge none")); return cell; }
  if (chain.intact) {
    cell.append(el("span", "intact", "badge ok"), el("span", ` ${chain.records_checked} records`));
  } else {
    cell.append(el("span", chain.break_kind.toUpperCase(), "badge broken"), el("div", chain.detail, "note"));
  }
  return cell;
}

async function showOverview() {
  $("history").hidden = true;
  $("overview").hidden = false;
  const days = $("coverage-days").value || 2;
  const data = await getJson(`${BASE}api/overview?coverage_days=${days}`);
  const filter = $("table-filter").value.trim().toLowerCase();
  const body = $("tables").tBodies[0];
  body.replaceChildren();
  for (const row of data.tables.filter((t) => t.table_name.toLowerCase().includes(filter))) {
    const tr = el("tr");
    tr.dataset.table = row.table_name;
    const name = el("td");
    const open = link(row.table_name, `#table=${encodeURIComponent(row.table_name)}`);
    name.append(open, el("div", `${row.drill_count} drills${row.planned ? "" : ", not planned"}`, "note"));
    const last = row.last || {};
    const status = el("td");
    status.append(badge(last.status));
    const findings = el("td");
    const list = el("ul", null, "findings");
    for (const finding of row.findings) list.append(el("li", finding, /failed|broken/.test(finding) ? "bad" : ""));
    findings.append(row.findings.length ? list : el("span", "none", "note"));
    tr.append(
      name, status, el("td", when(last.started_at)), el("td", last.backup_location || "—", "mono"),
      objective(last.rto_seconds, last.rto_target_seconds, last.rto_met),
      objective(last.rpo_seconds, last.rpo_target_seconds, last.rpo_met),
      el("td", row.last_passed_at ? `${seconds(row.last_passed_age_seconds)} ago` : "never"),
      chainCell(row.chain), findings,
    );
    body.append(tr);
  }
  $("overview-note").textContent =
    `${data.tables.length} tables: those of the drill plan and those with evidence. As of ${when(data.generated_at)}.`;
}

function historyQuery() {
  const query = new URLSearchParams();
  if ($("status").value) query.set("status", $("status").value);
  if ($("date-from").value) query.set("date_from", $("date-from").value);
  if ($("date-to").value) query.set("date_to", $("date-to").value);
  return query;
}

async function showHistory(table) {
  $("overview").hidden = true;
  $("history").hidden = false;
  const data = await getJson(`${BASE}api/tables/${encodeURIComponent(table)}/history?${historyQuery()}`);
  $("history-title").textContent = `History of ${table}`;
  const rate = data.pass_rate_percent === null ? "no drills in this period" : `${data.pass_rate_percent} % passed`;
  $("summary").textContent = `${data.drill_count} drills shown, ${data.passed} passed: ${rate}.`;
  $("rto-chart").innerHTML = data.rto_svg;
  $("rpo-chart").innerHTML = data.rpo_svg;
  const failures = $("failures");
  failures.replaceChildren();
  for (const f of data.failures) {
    failures.append(el("li", `${when(f.started_at)}: at ${f.failure_step || "?"}: ${f.failure_reason || "no reason recorded"}`));
  }
  if (!data.failures.length) failures.append(el("li", "none in this period", "note"));
  const body = $("drills").tBodies[0];
  body.replaceChildren();
  for (const d of data.drills) {
    const status = el("td");
    status.append(badge(d.status));
    const links = el("td");
    links.append(
      link("report", drillUrl(table, d.drill_id, "report")), " · ",
      link("evidence", drillUrl(table, d.drill_id, "evidence")), " · ",
      link("Airflow run", `${AIRFLOW}dags/${encodeURIComponent(d.table_dag_id || d.dag_id)}/runs/${encodeURIComponent(d.table_run_id || d.run_id)}`, true),
    );
    body.append(Object.assign(el("tr"), { className: "drill" }));
    body.lastChild.append(
      el("td", when(d.started_at)), status,
      objective(d.rto_seconds, d.rto_target_seconds, d.rto_met),
      objective(d.rpo_seconds, d.rpo_target_seconds, d.rpo_met),
      el("td", d.backup_location || "—", "mono"), el("td", d.failure_step || ""), links,
    );
  }
  const shown = data.drills.map((d) => d.started_at.slice(0, 10)).sort();
  const query = new URLSearchParams({
    table,
    date_from: $("date-from").value || shown[0] || new Date().toISOString().slice(0, 10),
    date_to: $("date-to").value || shown[shown.length - 1] || new Date().toISOString().slice(0, 10),
  });
  $("pack").href = `${BASE}api/pack?${query}`;
}

function route() {
  const table = new URLSearchParams(location.hash.slice(1)).get("table");
  (table ? showHistory(table) : showOverview()).catch((err) => {
    document.querySelector("main").prepend(el("p", `Could not load the drill history: ${err.message}`, "missed"));
  });
}

window.addEventListener("hashchange", route);
$("back").addEventListener("click", (event) => { event.preventDefault(); location.hash = ""; });
for (const id of ["table-filter", "coverage-days"]) $(id).addEventListener("input", () => showOverview());
for (const id of ["status", "date-from", "date-to"]) {
  $(id).addEventListener("change", () => route());
}
$("overview-filter").addEventListener("submit", (event) => event.preventDefault());
$("history-filter").addEventListener("submit", (event) => event.preventDefault());
route();
