// volspike live dashboard: polls the worker's JSON API every second and draws
// small canvas charts itself (no libraries, no network beyond the worker).
"use strict";

const SPAN = 900;  // seconds of history shown
const POLL_MS = 1000;
const state = {};  // product -> {points: [], alerts: []}

const $ = (sel, root = document) => root.querySelector(sel);
const utc = (t) => new Date(t * 1000).toISOString().slice(11, 19);

async function getJSON(url) {
  const reply = await fetch(url, {cache: "no-store"});
  if (!reply.ok) throw new Error(`${url}: HTTP ${reply.status}`);
  return reply.json();
}

function card(product) {
  const id = `p-${product.replace(/[^A-Za-z0-9]/g, "_")}`;
  let el = document.getElementById(id);
  if (el) return el;
  el = document.createElement("section");
  el.className = "product";
  el.id = id;
  el.innerHTML = `<h2>${product} <span class="muted"></span></h2><div class="charts">` +
    `<canvas data-kind="mid" title="price (mid)"></canvas>` +
    `<canvas data-kind="rv" title="realized volatility, 60 s"></canvas>` +
    `<canvas data-kind="p" title="spike probability"></canvas></div>`;
  $("#products").appendChild(el);
  return el;
}

function draw(canvas, label, points, key, opts = {}) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#8a96a3";
  g.fillText(label, 6, 13);
  const data = points.filter((p) => p[key] !== null && Number.isFinite(p[key]));
  canvas.dataset.points = data.length;
  if (data.length < 2) return;
  const t1 = data[data.length - 1].t, t0 = t1 - SPAN;
  let lo = opts.min ?? Math.min(...data.map((p) => p[key]));
  let hi = opts.max ?? Math.max(...data.map((p) => p[key]));
  if (hi === lo) { hi += Math.abs(hi) * 1e-6 || 1e-9; lo -= Math.abs(lo) * 1e-6 || 1e-9; }
  const pad = {l: 6, r: 6, t: 20, b: 16};
  const x = (t) => pad.l + (t - t0) / SPAN * (w - pad.l - pad.r);
  const y = (v) => h - pad.b - (v - lo) / (hi - lo) * (h - pad.t - pad.b);
  g.textAlign = "right";
  g.fillText(opts.fmt(hi), w - pad.r, 13);
  g.fillText(opts.fmt(lo), w - pad.r, h - pad.b - 3);
  g.fillText(`${utc(t1)}`, w - pad.r, h - 3);
  g.textAlign = "left";
  g.fillText(`${utc(t0)}`, pad.l, h - 3);
  if (opts.threshold !== undefined) {
    g.strokeStyle = "#f7b955";
    g.setLineDash([4, 3]);
    g.beginPath();
    g.moveTo(pad.l, y(opts.threshold));
    g.lineTo(w - pad.r, y(opts.threshold));
    g.stroke();
    g.setLineDash([]);
  }
  g.strokeStyle = opts.color;
  g.lineWidth = 1.4;
  g.beginPath();
  data.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p[key])) : g.moveTo(x(p.t), y(p[key]))));
  g.stroke();
  g.fillStyle = "#ff6b6b";
  for (const a of opts.alerts || []) {
    if (a.window_end < t0) continue;
    const ax = x(a.window_end);
    g.fillRect(ax - 1, pad.t, 2, h - pad.t - pad.b);
  }
}

function render(product) {
  const s = state[product];
  const el = card(product);
  const last = s.points[s.points.length - 1];
  if (last) {
    $("h2 span", el).textContent =
      `mid ${last.mid?.toFixed(2)} · p ${last.p.toFixed(3)} · ${utc(last.t)} UTC`;
  }
  const [mid, rv, p] = el.querySelectorAll("canvas");
  draw(mid, "price (mid)", s.points, "mid", {color: "#5fb3f9", fmt: (v) => v.toFixed(2),
    alerts: s.alerts});
  draw(rv, "realized vol 60 s", s.points, "rv", {color: "#b48ef7", min: 0,
    fmt: (v) => v.toExponential(2)});
  draw(p, "spike probability", s.points, "p", {color: "#59d499", min: 0, max: 1,
    fmt: (v) => v.toFixed(2), threshold: last?.threshold, alerts: s.alerts});
}

function renderAlerts() {
  const all = Object.values(state).flatMap((s) => s.alerts)
    .sort((a, b) => b.window_end - a.window_end).slice(0, 50);
  $("#alerts tbody").innerHTML = all.map((a) =>
    `<tr><td>${utc(a.window_end)}</td><td>${a.product}</td>` +
    `<td class="${a.severity}">${a.severity}</td><td>${a.probability.toFixed(3)}</td>` +
    `<td>${a.threshold.toFixed(3)}</td><td>${a.model_version}</td>` +
    `<td>${Object.keys(a.drivers || {}).join(", ")}</td></tr>`).join("");
}

async function poll() {
  try {
    const [version, list] = await Promise.all([getJSON("/version"), getJSON("/api/products")]);
    $("#model").textContent = `${version.model.name} v${version.model.version}`;
    await Promise.all(list.products.map(async ({product}) => {
      const s = state[product] ??= {points: [], alerts: []};
      const since = s.points.length ? s.points[s.points.length - 1].t : "";
      const q = encodeURIComponent(product);
      const [detail, alerts] = await Promise.all([
        getJSON(`/api/products/${q}?since=${since}`),
        getJSON(`/api/alerts?product=${q}&limit=20`),
      ]);
      s.points.push(...detail.points);
      const last = s.points.length ? s.points[s.points.length - 1].t : 0;
      s.points = s.points.filter((p) => p.t > last - SPAN);
      s.alerts = alerts.alerts;
      render(product);
    }));
    renderAlerts();
    $("#status").textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
  } catch (err) {
    $("#status").textContent = `error: ${err.message}`;
  }
  setTimeout(poll, POLL_MS);
}

poll();
