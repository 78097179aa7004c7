// The fis web page: draw or upload a field, compute its profile through the JSON API, mark cloudy dates.
// Every URL is relative to the page (works behind a path prefix); nothing is fetched from another host.
// With FIS_AUTH=required the API answers 401: the page asks for a client id and secret (or a token), gets a
// token from POST oauth/token and keeps it in sessionStorage (this tab only; the secret is never kept).
/* global L, Chart */

const API = "api/v1";
const $ = (id) => document.getElementById(id);

const state = {
  field: null, // GeoJSON geometry in EPSG:4326 (as the server parsed it)
  fieldLayer: null,
  series: null, // the shown series document (observations with include_cloudy=true)
  index: "ndvi",
  archiveEnd: null, // latest scene date (YYYY-MM-DD)
  controller: null, // AbortController of the running POST
  chart: null,
};

// ------------------------------------------------------------------ status line and API calls

function say(text, { error = false } = {}) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", error);
}

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.field = err.field || null;
  }
}

// ---------------------------------------------------------------------- signing in (FIS_AUTH=required)

const TOKEN_KEY = "fis-token"; // sessionStorage: {"access_token", "expires_at" (ms since 1970, or null)}
let signingIn = null; // the sign-in under way: every request answered 401 waits for the same one

function heldToken() {
  let held = null;
  try {
    held = JSON.parse(sessionStorage.getItem(TOKEN_KEY));
  } catch {
    held = null;
  }
  if (!held || !held.access_token) return null;
  if (held.expires_at !== null && held.expires_at <= Date.now()) return null; // expired: ask again
  return held.access_token;
}

function keepToken(accessToken, expiresIn) {
  const expiresAt = Number.isFinite(expiresIn) ? Date.now() + expiresIn * 1000 : null;
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify({ access_token: accessToken, expires_at: expiresAt }));
  $("sign-out").hidden = false;
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  $("sign-out").hidden = true;
}

function signIn(reason) {
  signingIn = signingIn || askForCredentials(reason).finally(() => {
    signingIn = null;
  });
  return signingIn;
}

// Shows the sign-in dialog until a token is had (resolves) or the user cancels (rejects).
function askForCredentials(reason) {
  const dialog = $("sign-in");
  const form = $("sign-in-form");
  $("sign-in-reason").textContent = reason;
  $("sign-in-error").textContent = "";
  form.reset();
  return new Promise((resolve, reject) => {
    const finish = (error) => {
      form.removeEventListener("submit", submit);
      $("sign-in-cancel").removeEventListener("click", cancel);
      dialog.removeEventListener("cancel", cancel);
      dialog.close();
      if (error) reject(error);
      else resolve();
    };
    const cancel = (event) => {
      event.preventDefault();
      finish(new Error("not signed in: this fis needs a client id and secret or an access token"));
    };
    const submit = async (event) => {
      event.preventDefault();
      const pasted = $("access_token").value.trim();
      if (pasted) {
        keepToken(pasted, NaN); // its lifetime is unknown: kept until the API answers 401
        finish(null);
        return;
      }
      const clientId = $("client_id").value.trim();
      const secret = $("client_secret").value;
      if (!clientId || !secret) {
        $("sign-in-error").textContent = "Give the client id and the client secret, or paste an access token.";
        return;
      }
      $("sign-in-error").textContent = "Signing in…";
      try {
        // a form body, as OAuth2 wants it (the API's JSON-only rule exempts the token endpoint)
        const credentials = new URLSearchParams({
          grant_type: "client_credentials", client_id: clientId, client_secret: secret,
        });
        const response = await fetch("oauth/token", { method: "POST", body: credentials });
        const body = await response.json();
        if (!response.ok) {
          $("sign-in-error").textContent = `${body.error}: ${body.error_description}`;
          $("client_secret").select();
          return;
        }
        keepToken(body.access_token, body.expires_in);
        finish(null);
      } catch (error) {
        $("sign-in-error").textContent = `Could not reach fis: ${error.message}`;
      }
    };
    form.addEventListener("submit", submit);
    $("sign-in-cancel").addEventListener("click", cancel);
    dialog.addEventListener("cancel", cancel);
    dialog.showModal();
    $("client_id").focus();
  });
}

// fetch() with the held token; a 401 asks for credentials (again, when the token expired) and repeats the call.
async function authorizedFetch(path, options = {}) {
  for (;;) {
    const token = heldToken();
    const headers = new Headers(options.headers || {});
    if (token) headers.set("Authorization", `Bearer ${token}`);
    const response = await fetch(path, { ...options, headers });
    if (response.status !== 401) return response;
    const hadToken = token !== null || sessionStorage.getItem(TOKEN_KEY) !== null;
    forgetToken();
    await signIn(hadToken ? "Your access token has expired (or was revoked): sign in again."
      : "This fis needs a client (FIS_AUTH=required): give its id and secret, or an access token.");
  }
}

async function api(path, options = {}) {
  const response = await authorizedFetch(path, options);
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function showError(error) {
  if (error.name === "AbortError") {
    say("Cancelled.");
    return;
  }
  const where = error.field ? ` (field: ${error.field})` : "";
  say(`Error${where}: ${error.message}`, { error: true });
  const input = error.field && document.querySelector(`[name="${CSS.escape(error.field)}"]`);
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

// ------------------------------------------------------------------------------- the map

let map;

function setupMap(config, scenes) {
  map = L.map("map", { zoomControl: true });
  if (config.basemap) {
    L.tileLayer(config.basemap.url, { attribution: config.basemap.attribution, maxZoom: 19 }).addTo(map);
  }
  const seen = new Set();
  const unique = scenes.features.filter((f) => {
    const key = JSON.stringify(f.geometry.coordinates);
    return seen.has(key) ? false : seen.add(key);
  });
  const footprints = L.geoJSON({ type: "FeatureCollection", features: unique }, {
    interactive: false,
    style: { color: "#2166ac", weight: 1, fill: true, fillOpacity: 0.04 },
  }).addTo(map);
  if (unique.length) map.fitBounds(footprints.getBounds());
  else map.setView([0, 0], 2);
  map.pm.setGlobalOptions({ allowSelfIntersection: false });
  map.on("pm:create", (event) => {
    map.pm.disableDraw();
    useLayer(event.layer);
  });
}

function useLayer(layer) {
  if (state.fieldLayer && state.fieldLayer !== layer) map.removeLayer(state.fieldLayer);
  state.fieldLayer = layer;
  layer.on("pm:edit", () => checkField(layer.toGeoJSON().geometry));
  checkField(layer.toGeoJSON().geometry);
}

function showField(geometry) {
  if (state.fieldLayer) map.removeLayer(state.fieldLayer);
  const layer = L.geoJSON(geometry, { style: { color: "#1b7837", weight: 2 } }).getLayers()[0];
  layer.addTo(map);
  state.fieldLayer = layer;
  layer.on("pm:edit", () => checkField(layer.toGeoJSON().geometry));
  map.fitBounds(layer.getBounds(), { maxZoom: 17 });
}

async function checkField(geometry, { crs = null } = {}) {
  const body = crs ? { geometry, crs } : { geometry };
  try {
    const parsed = await api(`${API}/geometry/parse`, jsonPost(body));
    acceptField(parsed, false);
  } catch (error) {
    showError(error);
  }
}

function acceptField(parsed, redraw) {
  state.field = parsed.geometry;
  if (redraw) showField(parsed.geometry);
  $("area").textContent = `${parsed.area_ha.toFixed(2)} ha`;
  $("edit").disabled = false;
  $("clear").disabled = false;
  const warnings = parsed.warnings.length ? ` Note: ${parsed.warnings.join("; ")}` : "";
  say(`Field set (${parsed.area_ha.toFixed(2)} ha).${warnings}`);
}

function clearField() {
  if (state.fieldLayer) map.removeLayer(state.fieldLayer);
  state.fieldLayer = null;
  state.field = null;
  $("area").textContent = "no field";
  $("edit").disabled = true;
  $("clear").disabled = true;
}

async function uploadField(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  say(`Reading ${file.name}…`);
  try {
    acceptField(await api(`${API}/geometry/parse`, { method: "POST", body: form }), true);
  } catch (error) {
    showError(error);
  }
}

async function pasteField(text) {
  try {
    acceptField(await api(`${API}/geometry/parse`, jsonPost({ geometry: text })), true);
  } catch (error) {
    showError(error);
  }
}

function jsonPost(body) {
  return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

// --------------------------------------------------------------------------- dates

function iso(date) {
  return date.toISOString().slice(0, 10);
}

function preset(kind) {
  const end = new Date(`${state.archiveEnd || iso(new Date())}T00:00:00Z`);
  let from;
  let to = end;
  if (kind === "season") {
    from = new Date(Date.UTC(end.getUTCFullYear(), 3, 1));
    to = new Date(Date.UTC(end.getUTCFullYear(), 8, 30));
  } else {
    from = new Date(end);
    from.setUTCMonth(from.getUTCMonth() - Number(kind));
    from.setUTCDate(from.getUTCDate() + 1);
  }
  $("from").value = iso(from);
  $("to").value = iso(to);
}

// ---------------------------------------------------------------------- cloud thresholds

function thresholds() {
  return {
    max_cloud_fraction: $("use_fraction").checked ? Number($("max_cloud_fraction").value) : null,
    max_cloud_probability: $("use_probability").checked ? Number($("max_cloud_probability").value) : null,
  };
}

function setThresholds(filter) {
  for (const [key, box] of [["max_cloud_fraction", "use_fraction"], ["max_cloud_probability", "use_probability"]]) {
    const value = filter[key];
    $(box).checked = value !== null && value !== undefined;
    if ($(box).checked) $(key).value = String(value);
  }
  syncThresholdInputs();
}

function syncThresholdInputs() {
  for (const [key, box] of [["max_cloud_fraction", "use_fraction"], ["max_cloud_probability", "use_probability"]]) {
    $(key).disabled = !$(box).checked;
    $(`${key}_value`).textContent = $(box).checked ? Number($(key).value).toFixed(2) : "off";
  }
}

// The API's rule (fis.core.observation.Observation.is_cloudy): a given threshold is exceeded; a missing
// measure (null) never exceeds it.
function isCloudy(observation, limits) {
  const over = (value, limit) => limit !== null && value !== null && value !== undefined && value > limit;
  return over(observation.cloud_fraction, limits.max_cloud_fraction)
    || over(observation.cloud_probability, limits.max_cloud_probability);
}

function thresholdQuery(limits) {
  const params = new URLSearchParams({ include_cloudy: "true" });
  for (const key of ["max_cloud_fraction", "max_cloud_probability"]) {
    params.set(key, limits[key] === null ? "" : String(limits[key]));
  }
  return params;
}

// ------------------------------------------------------------------------ computing

async function run(event) {
  event.preventDefault();
  document.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  if (!state.field) {
    say("Draw, upload or paste a field first.", { error: true });
    $("draw").focus();
    return;
  }
  const index = $("index").value;
  const body = {
    geometry: state.field,
    time_range: { from: $("from").value, to: $("to").value },
    resolution: Number($("resolution").value),
    cloud_threshold: Number($("cloud_threshold").value),
    ...thresholds(),
  };
  if (index !== "ndvi") body.indices = [index];
  if ($("name").value.trim()) body.name = $("name").value.trim();
  state.controller = new AbortController();
  busy(true);
  say("Computing the profile… (Cancel stops waiting)");
  try {
    const created = await api(`${API}/timeseries`, { ...jsonPost(body), signal: state.controller.signal });
    await openSeries(created.id, { signal: state.controller.signal, keepThresholds: true });
    loadStored();
  } catch (error) {
    showError(error);
  } finally {
    busy(false);
    state.controller = null;
  }
}

function busy(on) {
  $("run").disabled = on;
  $("cancel").disabled = !on;
  $("progress").hidden = !on;
  $("request-form").setAttribute("aria-busy", String(on));
}

async function openSeries(id, { signal = undefined, keepThresholds = false } = {}) {
  const series = await api(`${API}/timeseries/${encodeURIComponent(id)}?include_cloudy=true`, { signal });
  state.series = series;
  const indices = series.parameters.indices ? Object.keys(series.parameters.indices) : [];
  state.index = indices.length ? indices[0] : "ndvi";
  if (!keepThresholds) setThresholds(series.filter);
  $("from").value = String(series.time_range.from).slice(0, 10);
  $("to").value = String(series.time_range.to).slice(0, 10);
  const url = new URL(window.location.href);
  url.searchParams.set("series", series.id);
  window.history.replaceState(null, "", url);
  const parsed = await api(`${API}/geometry/parse`, jsonPost({ geometry: series.geometry }));
  acceptField(parsed, true);
  $("result-panel").hidden = false;
  render();
  const label = series.name ? `“${series.name}”` : series.id;
  say(`Series ${label}: ${series.observations.length} dates (${markedCount()} cloudy).`);
}

// -------------------------------------------------------------------------- the chart

function statsOf(observation) {
  return state.index === "ndvi" ? observation.ndvi : (observation.indices || {})[state.index] || {};
}

function markedCount() {
  const limits = thresholds();
  return state.series.observations.filter((o) => isCloudy(o, limits)).length;
}

function render() {
  const series = state.series;
  const limits = thresholds();
  const rows = series.observations.map((o) => ({
    o, x: Date.parse(`${o.date}T00:00:00Z`), s: statsOf(o), cloudy: isCloudy(o, limits),
  }));
  const clear = rows.filter((r) => !r.cloudy);
  const name = state.index.toUpperCase();
  const xs = rows.map((r) => r.x);
  const span = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  const line = (limit) => (limit === null ? [] : [{ x: span[0], y: limit }, { x: span[1], y: limit }]);
  const datasets = [
    { label: `${name} p10`, data: clear.map((r) => ({ x: r.x, y: r.s.p10 ?? null })), yAxisID: "y",
      borderWidth: 0, pointRadius: 0, fill: false, backgroundColor: "rgba(166,219,160,0.5)" },
    { label: `${name} p10–p90`, data: clear.map((r) => ({ x: r.x, y: r.s.p90 ?? null })), yAxisID: "y",
      borderWidth: 0, pointRadius: 0, fill: "-1", backgroundColor: "rgba(166,219,160,0.5)" },
    { label: `${name} mean (clear)`, data: clear.map((r) => ({ x: r.x, y: r.s.mean ?? null })), yAxisID: "y",
      borderColor: "#1b7837", backgroundColor: "#1b7837", pointRadius: 3, borderWidth: 2 },
    { label: "cloudy", data: rows.filter((r) => r.cloudy).map((r) => ({ x: r.x, y: r.s.mean ?? null })),
      yAxisID: "y", showLine: false, pointStyle: "crossRot", pointRadius: 7, borderWidth: 2,
      borderColor: "#d6604d", backgroundColor: "#d6604d" },
    { label: "cloud_fraction", data: rows.map((r) => ({ x: r.x, y: r.o.cloud_fraction })), yAxisID: "y1",
      showLine: false, pointStyle: "rect", pointRadius: 2, borderColor: "#762a83", backgroundColor: "#762a83" },
    { label: "cloud_probability", data: rows.map((r) => ({ x: r.x, y: r.o.cloud_probability })), yAxisID: "y1",
      showLine: false, pointStyle: "triangle", pointRadius: 3, borderColor: "#2166ac", backgroundColor: "#2166ac" },
    { label: "max_cloud_fraction", data: line(limits.max_cloud_fraction), yAxisID: "y1", pointRadius: 0,
      borderDash: [6, 4], borderWidth: 1, borderColor: "#762a83" },
    { label: "max_cloud_probability", data: line(limits.max_cloud_probability), yAxisID: "y1", pointRadius: 0,
      borderDash: [2, 3], borderWidth: 1, borderColor: "#2166ac" },
  ];
  const byX = new Map(rows.map((r) => [r.x, r]));
  if (state.chart) {
    state.chart.data.datasets = datasets;
    state.chart.update("none");
  } else {
    state.chart = new Chart($("chart"), {
      type: "line",
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: true,
        interaction: { mode: "nearest", intersect: false, axis: "x" },
        scales: {
          x: { type: "linear", ticks: { callback: (v) => iso(new Date(v)), maxRotation: 0, autoSkipPadding: 12 } },
          y: { title: { display: true, text: name }, position: "left" },
          y1: { min: 0, max: 1, position: "right", title: { display: true, text: "cloud measures" },
            grid: { drawOnChartArea: false } },
        },
        plugins: {
          legend: { labels: { filter: (item) => !item.text.endsWith(" p10") } },
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? iso(new Date(items[0].parsed.x)) : ""),
              label: (item) => `${item.dataset.label}: ${item.parsed.y === null ? "–" : item.parsed.y.toFixed(4)}`,
              footer: (items) => tooltipFooter(state.byX.get(items[0]?.parsed.x)),
            },
          },
        },
      },
    });
  }
  state.byX = byX;
  state.chart.options.scales.y.title.text = name;
  state.chart.update("none");
  renderTable(rows);
  updateLinks(limits);
  const title = series.name ? `${series.name} (${series.id})` : series.id;
  $("result-title").textContent = `${title}: ${rows.length} dates, ${rows.length - clear.length} marked cloudy.`;
}

function tooltipFooter(row) {
  if (!row) return "";
  const f = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(4));
  return [
    `mean ${f(row.s.mean)}, p10 ${f(row.s.p10)}, p90 ${f(row.s.p90)}`,
    `cloud_fraction ${f(row.o.cloud_fraction)}, cloud_probability ${f(row.o.cloud_probability)}`,
    row.cloudy ? "cloudy" : "clear",
  ];
}

function renderTable(rows) {
  const body = $("observations").querySelector("tbody");
  const f = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(4));
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.date = r.o.date;
    tr.dataset.cloudy = String(r.cloudy);
    if (r.cloudy) tr.className = "cloudy";
    for (const text of [r.o.date, f(r.s.mean), f(r.s.p10), f(r.s.p90), f(r.o.cloud_fraction),
      f(r.o.cloud_probability), r.cloudy ? "cloudy" : "clear"]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }));
}

function updateLinks(limits) {
  const id = encodeURIComponent(state.series.id);
  const base = `${API}/timeseries/${id}`;
  const stem = state.series.name ? state.series.name.replace(/[^\w.-]+/g, "_") : `fis-timeseries-${state.series.id}`;
  const query = thresholdQuery(limits);
  query.set("format", "csv");
  $("download-csv").href = `${base}?${query}`;
  $("download-csv").download = `${stem}.csv`;
  query.set("format", "geojson");
  $("download-geojson").href = `${base}?${query}`;
  $("download-geojson").download = `${stem}.geojson`;
  const figure = new URLSearchParams();
  for (const key of ["max_cloud_fraction", "max_cloud_probability"]) {
    figure.set(key, limits[key] === null ? "" : String(limits[key]));
  }
  $("download-figure").href = `${base}/plot.png?${figure}`;
  $("download-figure").download = `${stem}.png`;
}

// A download link cannot send a header: with a token the file is fetched with it and saved from memory.
async function downloadWithToken(event) {
  if (!heldToken()) return; // FIS_AUTH=off: the link itself downloads
  event.preventDefault();
  const anchor = event.currentTarget;
  try {
    const response = await authorizedFetch(anchor.href);
    if (!response.ok) {
      const type = response.headers.get("Content-Type") || "";
      throw new ApiError(response.status, type.includes("json") ? await response.json() : null);
    }
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = anchor.download;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    showError(error);
  }
}

function downloadChartPng() {
  const link = document.createElement("a");
  link.href = $("chart").toDataURL("image/png");
  link.download = `${state.series.name || `fis-timeseries-${state.series.id}`}-chart.png`;
  document.body.append(link);
  link.click();
  link.remove();
}

// --------------------------------------------------------------------- stored series

async function loadStored() {
  try {
    const page = await api(`${API}/timeseries?limit=100`);
    const body = $("stored").querySelector("tbody");
    body.replaceChildren(...page.items.map(storedRow));
  } catch (error) {
    showError(error);
  }
}

function storedRow(item) {
  const tr = document.createElement("tr");
  tr.dataset.id = item.id;
  const range = item.time_range || {};
  const cells = [item.name || item.id, `${String(range.from).slice(0, 10)} – ${String(range.to).slice(0, 10)}`,
    String(item.observations), item.created_at.slice(0, 16).replace("T", " ")];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  const actions = document.createElement("td");
  const label = item.name || item.id;
  actions.append(
    button("Open", `Open ${label}`, () => openSeries(item.id).catch(showError)),
    button("Rename", `Rename ${label}`, () => rename(item)),
    button("Delete", `Delete ${label}`, () => remove(item)),
  );
  tr.append(actions);
  return tr;
}

function button(text, label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

async function rename(item) {
  const name = window.prompt("New name (empty removes the name)", item.name || "");
  if (name === null) return;
  try {
    const patch = { method: "PATCH", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: name.trim() ? name.trim() : null }) };
    await api(`${API}/timeseries/${encodeURIComponent(item.id)}`, patch);
    say(`Renamed ${item.id}.`);
    if (state.series && state.series.id === item.id) await openSeries(item.id, { keepThresholds: true });
    loadStored();
  } catch (error) {
    showError(error);
  }
}

async function remove(item) {
  if (!window.confirm(`Delete the series ${item.name || item.id} and its observations?`)) return;
  try {
    await api(`${API}/timeseries/${encodeURIComponent(item.id)}`, { method: "DELETE" });
    say(`Deleted ${item.name || item.id}.`);
    loadStored();
  } catch (error) {
    showError(error);
  }
}

// ------------------------------------------------------------------------------ start

function wire() {
  $("draw").addEventListener("click", () => {
    map.pm.enableDraw("Polygon", { finishOn: null });
    say("Click the field's corners on the map; click the first corner again to finish.");
  });
  $("edit").addEventListener("click", () => {
    if (!state.fieldLayer) return;
    if (state.fieldLayer.pm.enabled()) state.fieldLayer.pm.disable();
    else state.fieldLayer.pm.enable();
  });
  $("clear").addEventListener("click", clearField);
  $("upload").addEventListener("change", (e) => e.target.files[0] && uploadField(e.target.files[0]));
  $("use-paste").addEventListener("click", () => pasteField($("paste").value));
  document.querySelectorAll(".preset").forEach((b) => b.addEventListener("click", () => preset(b.dataset.preset)));
  for (const id of ["use_fraction", "use_probability", "max_cloud_fraction", "max_cloud_probability"]) {
    $(id).addEventListener("input", () => {
      syncThresholdInputs();
      if (state.series) {
        render();
        say(`${markedCount()} of ${state.series.observations.length} dates marked cloudy.`);
      }
    });
  }
  $("request-form").addEventListener("submit", run);
  $("cancel").addEventListener("click", () => state.controller && state.controller.abort());
  $("download-png").addEventListener("click", downloadChartPng);
  for (const id of ["download-csv", "download-geojson", "download-figure"]) {
    $(id).addEventListener("click", downloadWithToken);
  }
  $("sign-out").addEventListener("click", () => {
    forgetToken();
    say("Signed out: the next request asks for a client again.");
  });
  $("refresh-list").addEventListener("click", loadStored);
}

async function start() {
  $("sign-out").hidden = heldToken() === null;
  try {
    const [config, scenes] = await Promise.all([api(`${API}/config`), api(`${API}/scenes?limit=10000`)]);
    const dates = scenes.features.map((f) => f.properties.date).sort();
    state.archiveEnd = dates.length ? dates[dates.length - 1] : null;
    setupMap(config, scenes);
    wire();
    preset("12");
    syncThresholdInputs();
    await loadStored();
    const id = new URLSearchParams(window.location.search).get("series");
    if (id) await openSeries(id);
    else say(dates.length ? `Archive: ${scenes.features.length} scenes up to ${state.archiveEnd}. Draw a field.`
      : "The archive has no scenes yet (fis ingest).");
  } catch (error) {
    showError(error);
  } finally {
    document.body.dataset.ready = "true";
  }
}

start();
