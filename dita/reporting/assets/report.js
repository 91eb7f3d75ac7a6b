// dita report page: SVG charts (zoom with the wheel, pan by dragging, double-click resets)
// and sortable tables, drawn from the JSON embedded in the page. No network, no library.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("dita-data").textContent);
  const NS = "http://www.w3.org/2000/svg";
  const num = (s) => Number(s);
  const fmtTs = (t) => new Date(t).toISOString().replace("T", " ").slice(0, 16);
  const el = (tag, attrs, parent) => {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  };
  // ------------------------------------------------------------------ charts
  const charts = [];
  let full = [Infinity, -Infinity];
  function extend(pts) { for (const p of pts) { if (p[0] < full[0]) full[0] = p[0]; if (p[0] > full[1]) full[1] = p[0]; } }
  let view = null;
  function makeChart(id, height, series, markers) {
    const box = document.getElementById(id);
    if (!box) return;
    for (const s of series) extend(s.pts);
    charts.push({ box, height, series, markers: markers || [] });
  }
  function thin(pts, x0, x1, width) {
    // points in [x0, x1] (plus one on each side), at most ~2 per pixel (min and max kept)
    let a = 0, b = pts.length;
    while (a < b) { const m = (a + b) >> 1; if (pts[m][0] < x0) a = m + 1; else b = m; }
    const lo = Math.max(0, a - 1);
    let hi = lo;
    while (hi < pts.length && pts[hi][0] <= x1) hi++;
    hi = Math.min(pts.length, hi + 1);
    const seg = pts.slice(lo, hi);
    if (seg.length <= width * 2) return seg;
    const out = [], step = (x1 - x0) / width;
    let bucket = null;
    for (const p of seg) {
      const k = Math.floor((p[0] - x0) / step);
      if (!bucket || bucket.k !== k) {
        if (bucket) { out.push(bucket.min); if (bucket.max !== bucket.min) out.push(bucket.max); }
        bucket = { k, min: p, max: p };
      } else {
        if (p[1] < bucket.min[1]) bucket.min = p;
        if (p[1] > bucket.max[1]) bucket.max = p;
      }
    }
    if (bucket) { out.push(bucket.min); if (bucket.max !== bucket.min) out.push(bucket.max); }
    out.sort((p, q) => p[0] - q[0]);
    return out;
  }
  function draw(c) {
    const W = Math.max(300, c.box.clientWidth || 900), H = c.height, L = 70, R = 10, T = 8, B = 22;
    c.box.textContent = "";
    const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}` }, c.box);
    const [x0, x1] = view;
    const pw = W - L - R, ph = H - T - B;
    const vis = c.series.map((s) => ({ s, pts: thin(s.pts, x0, x1, pw) }));
    let y0 = Infinity, y1 = -Infinity;
    for (const v of vis) for (const p of v.pts) { if (p[0] >= x0 && p[0] <= x1) { y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); } }
    const mk = c.markers.filter((m) => m.t >= x0 && m.t <= x1);
    for (const m of mk) { y0 = Math.min(y0, m.v); y1 = Math.max(y1, m.v); }
    if (!isFinite(y0)) { y0 = 0; y1 = 1; }
    if (y0 === y1) { y0 -= 1; y1 += 1; }
    const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
    const X = (t) => L + ((t - x0) / (x1 - x0 || 1)) * pw;
    const Y = (v) => T + (1 - (v - y0) / (y1 - y0)) * ph;
    for (let i = 0; i <= 4; i++) {
      const v = y0 + ((y1 - y0) * i) / 4, y = Y(v);
      el("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#eee" }, svg);
      el("text", { x: L - 4, y: y + 4, "text-anchor": "end", "font-size": 10, fill: "#555" }, svg).textContent = v.toLocaleString(undefined, { maximumFractionDigits: 2 });
    }
    for (let i = 0; i <= 4; i++) {
      const t = x0 + ((x1 - x0) * i) / 4;
      el("text", { x: X(t), y: H - 6, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle", "font-size": 10, fill: "#555" }, svg).textContent = fmtTs(t);
    }
    const clip = "clip-" + c.box.id;
    el("rect", { x: L, y: T, width: pw, height: ph }, el("clipPath", { id: clip }, el("defs", {}, svg)));
    const g = el("g", { "clip-path": `url(#${clip})` }, svg);
    for (const v of vis) {
      if (!v.pts.length) continue;
      let d = "";
      v.pts.forEach((p, i) => {
        if (i === 0) d += `M${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`;
        else if (v.s.step) d += `H${X(p[0]).toFixed(1)}V${Y(p[1]).toFixed(1)}`;
        else d += `L${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`;
      });
      if (v.s.fill) el("path", { d: d + `V${Y(0)}H${X(v.pts[0][0])}Z`, fill: v.s.fill, stroke: "none" }, g);
      el("path", { d, fill: "none", stroke: v.s.color, "stroke-width": 1.2 }, g);
    }
    const shown = mk.length > 3000 ? mk.filter((_, i) => i % Math.ceil(mk.length / 3000) === 0) : mk;
    for (const m of shown) {
      const x = X(m.t), y = Y(m.v);
      const p = m.kind === "entry" ? `M${x},${y - 5}l4,7h-8z` : m.kind === "exit" ? `M${x},${y + 5}l4,-7h-8z` : `M${x - 3},${y - 3}l6,6M${x + 3},${y - 3}l-6,6`;
      const color = m.kind === "entry" ? "#1a9850" : m.kind === "exit" ? "#d73027" : "#777";
      const e = el("path", { d: p, fill: m.kind === "cancel" ? "none" : color, stroke: color, class: "mark-" + m.kind }, g);
      el("title", {}, e).textContent = m.label;
    }
    const legend = el("g", {}, svg);
    let lx = L + 6;
    for (const s of c.series) {
      el("rect", { x: lx, y: T + 4, width: 10, height: 3, fill: s.color }, legend);
      const tx = el("text", { x: lx + 14, y: T + 9, "font-size": 10 }, legend);
      tx.textContent = s.name;
      lx += 20 + s.name.length * 6;
    }
    // zoom (wheel) and pan (drag); every chart shares the same time window
    svg.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const r = svg.getBoundingClientRect(), f = ev.deltaY > 0 ? 1.25 : 0.8;
      const at = x0 + ((ev.clientX - r.left - L) / pw) * (x1 - x0);
      setView(at - (at - x0) * f, at + (x1 - at) * f);
    }, { passive: false });
    let drag = null;
    svg.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, v: view.slice() }; });
    window.addEventListener("mouseup", () => { drag = null; });
    svg.addEventListener("mousemove", (ev) => {
      if (!drag) return;
      const dt = ((ev.clientX - drag.x) / pw) * (drag.v[1] - drag.v[0]);
      setView(drag.v[0] - dt, drag.v[1] - dt);
    });
    svg.addEventListener("dblclick", () => setView(full[0], full[1]));
  }
  let pending = false;
  function setView(a, b) {
    const span = Math.max(b - a, 60000);
    a = Math.max(full[0], a); b = Math.min(full[1], a + span); a = Math.max(full[0], b - span);
    view = [a, b];
    if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; charts.forEach(draw); }); }
  }
  const toPts = (arr) => arr.map((p) => [p[0], num(p[1])]);
  const markers = [];
  for (const f of D.fills) markers.push({ t: f.ts, v: num(f.price), kind: f.purpose === "ENTRY" ? "entry" : "exit", sym: f.asset, label: `${f.purpose} ${f.side} ${f.qty} @ ${f.price} (slot ${f.slot}, ${f.cid})` });
  for (const e of D.ends) if (e.price !== null) markers.push({ t: e.ts, v: num(e.price), kind: "cancel", sym: e.asset, label: `${e.kind} ${e.purpose} ${e.side} @ ${e.price} (slot ${e.slot}, ${e.cid}) ${e.reason}` });
  const palette = ["#444", "#7b3294", "#008837", "#e66101", "#2b83ba"];
  const symbols = Object.keys(D.prices);
  symbols.forEach((sym, i) => {
    const box = document.createElement("div");
    box.id = "chart-price-" + i; box.className = "chart";
    const h = document.createElement("h3"); h.textContent = `${sym} close, with entry (▲), exit (▼) and cancelled/rejected (×) orders`;
    document.getElementById("price-charts").append(h, box);
    makeChart(box.id, 320, [{ name: sym + " close", color: palette[i % palette.length], pts: toPts(D.prices[sym]) }], markers.filter((m) => m.sym === sym));
  });
  if (!symbols.length) document.getElementById("price-charts").textContent = "no prices in this journal";
  makeChart("chart-equity", 240, [
    { name: "equity (marked to market)", color: "#2b6cb0", pts: toPts(D.equity) },
    { name: "capital (realized)", color: "#dd8452", pts: toPts(D.realized), step: true },
  ]);
  const dd = []; let peak = -Infinity;
  for (const p of D.equity) { const v = num(p[1]); peak = Math.max(peak, v); dd.push([p[0], peak > 0 ? -(peak - v) / peak * 100 : 0]); }
  makeChart("chart-drawdown", 160, [{ name: "drawdown % (marked to market)", color: "#c0392b", fill: "rgba(192,57,43,0.15)", pts: dd }]);
  if (isFinite(full[0])) { view = [full[0], full[1] > full[0] ? full[1] : full[0] + 60000]; charts.forEach(draw); }
  window.addEventListener("resize", () => charts.forEach(draw));
  // ------------------------------------------------------------------ tables
  const LIMIT = 2000;
  function table(id, cols, rows) {
    const box = document.getElementById(id);
    if (!box) return;
    let shown = LIMIT, key = null, dir = 1;
    const render = () => {
      box.textContent = "";
      if (!rows.length) { box.textContent = "none"; return; }
      const t = document.createElement("table"), head = t.createTHead().insertRow();
      cols.forEach((c, i) => {
        const th = document.createElement("th");
        th.textContent = c.name + (key === i ? (dir > 0 ? " ▲" : " ▼") : "");
        th.title = "click to sort";
        th.onclick = () => { dir = key === i ? -dir : 1; key = i; const f = cols[i].get;
          rows.sort((a, b) => { const x = f(a), y = f(b); const nx = Number(x), ny = Number(y);
            const r = (x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y)); return r * dir; });
          render(); };
        head.appendChild(th);
      });
      const body = t.createTBody();
      for (const r of rows.slice(0, shown)) {
        const tr = body.insertRow();
        for (const c of cols) { const td = tr.insertCell(); const v = c.get(r); td.textContent = c.show ? c.show(v) : v; }
      }
      box.appendChild(t);
      if (rows.length > shown) {
        const b = document.createElement("button");
        b.textContent = `show all ${rows.length} rows (${shown} shown)`;
        b.onclick = () => { shown = rows.length; render(); };
        box.appendChild(b);
      }
    };
    render();
  }
  const ts = (r) => r.ts, T = fmtTs;
  table("t-trades", [
    { name: "trade", get: (r) => r.id }, { name: "symbol", get: (r) => r.asset }, { name: "slot", get: (r) => r.slot },
    { name: "side", get: (r) => r.side }, { name: "opened", get: (r) => r.opened, show: T }, { name: "closed", get: (r) => r.closed, show: T },
    { name: "held (min)", get: (r) => ((r.closed - r.opened) / 60000).toFixed(1) }, { name: "qty", get: (r) => r.qty },
    { name: "entry", get: (r) => r.entry }, { name: "exit", get: (r) => r.exit }, { name: "exit legs", get: (r) => r.legs },
    { name: "realized PnL", get: (r) => r.realized }, { name: "fees", get: (r) => r.fees }, { name: "funding", get: (r) => r.funding },
    { name: "net PnL", get: (r) => r.net },
  ], D.trades);
  table("t-fills", [
    { name: "time", get: ts, show: T }, { name: "order", get: (r) => r.cid }, { name: "symbol", get: (r) => r.asset }, { name: "slot", get: (r) => r.slot },
    { name: "purpose", get: (r) => r.purpose }, { name: "side", get: (r) => r.side }, { name: "qty", get: (r) => r.qty },
    { name: "price", get: (r) => r.price }, { name: "fee", get: (r) => r.fee }, { name: "partial", get: (r) => (r.partial ? "yes" : "") },
  ], D.fills);
  table("t-ends", [
    { name: "time", get: ts, show: T }, { name: "what", get: (r) => r.kind }, { name: "order", get: (r) => r.cid }, { name: "symbol", get: (r) => r.asset },
    { name: "slot", get: (r) => r.slot }, { name: "purpose", get: (r) => r.purpose }, { name: "side", get: (r) => r.side },
    { name: "price", get: (r) => (r.price === null ? "" : r.price) }, { name: "reason", get: (r) => r.reason },
  ], D.ends);
  table("t-refusals", [
    { name: "seq", get: (r) => r.seq }, { name: "time", get: ts, show: T }, { name: "input", get: (r) => r.what },
    { name: "slot", get: (r) => (r.slot === null ? "" : r.slot) }, { name: "diagnostic", get: (r) => r.code }, { name: "message", get: (r) => r.message },
  ], D.refusals);
  document.body.setAttribute("data-ready", "1");
})();
