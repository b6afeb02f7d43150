// The admin's live sale page (templates/admin/products/product/live.html). Every second it fetches a reading of
// the product's sale (seckill/live.py: counters and levels), keeps the last minutes of readings, and draws
// levels as they are, rates as differences between two readings, and latency quantiles from the difference of
// the latency histogram over the last 10 s (as Prometheus' rate() and histogram_quantile() do).
(function () {
  "use strict";

  const root = document.getElementById("live");
  const readingUrl = root.dataset.readingUrl;
  const intervalMs = Number(root.dataset.intervalMs);
  const windowS = Number(root.dataset.windowS);
  const QUANTILE_WINDOW_S = 10;
  const CODES = ["success", "pending", "sold_out", "already_purchased", "busy", "rate_limited", "entered"];
  const COLORS = {
    success: "#2e7d32", pending: "#757575", entered: "#00838f", sold_out: "#ef6c00", already_purchased: "#6a1b9a",
    busy: "#c62828", rate_limited: "#795548", other: "#1565c0",
  };

  const readings = [];  // the raw readings of the window, oldest first
  const columns = {};   // chart name -> [[times], [values of series 1], ...]
  const charts = {};

  // --- figures from readings -------------------------------------------------------------------------------

  function sold(reading) {
    return reading.orders.units_live;
  }

  // The hosts a reading summed: two readings of different hosts are not compared (a host dropping out or
  // coming back would show as a dip and a spike).
  function sameHosts(a, b) {
    const read = (r) => Object.keys(r.hosts || {}).filter((h) => r.hosts[h] === "ok").sort().join(" ");
    return read(a) === read(b);
  }

  function perSecond(now, before, value) {
    if (!before || !sameHosts(now, before)) return null;
    const dt = now.time - before.time;
    return dt > 0 ? Math.max(0, value(now) - value(before)) / dt : null;  // < 0: a process restarted
  }

  // The hosts whose counters this reading sums (this one and SECKILL_METRICS_PEERS'): "2 of 2", an alarm if not all.
  function showHosts(hosts) {
    const el = document.getElementById("fig-hosts");
    const all = Object.keys(hosts || {}).length;
    const ok = Object.values(hosts || {}).filter((state) => state === "ok").length;
    el.textContent = all ? ok + " of " + all : "–";
    el.className = ok === all ? "" : "alarm";
  }

  function answersOf(reading, code) {
    if (code !== "other") return reading.answers[code] || 0;
    let n = 0;
    for (const [c, v] of Object.entries(reading.answers)) if (!CODES.includes(c)) n += v;
    return n;
  }

  function allAnswers(reading) {
    return Object.values(reading.answers).reduce((a, b) => a + b, 0);
  }

  // The q-quantile (seconds) of the requests answered between two readings; null when there were none.
  function quantile(q, now, before) {
    if (!before || !sameHosts(now, before)) return null;
    const bounds = now.latency.buckets.map((b) => b[0]);
    const counts = now.latency.buckets.map((b, i) => b[1] - ((before.latency.buckets[i] || [0, 0])[1]));
    const total = counts[counts.length - 1];
    if (!(total > 0)) return null;
    const rank = q * total;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] < rank) continue;
      if (bounds[i] === null) return bounds[i - 1];  // in the +Inf bucket: its lower bound
      const lower = i === 0 ? 0 : bounds[i - 1];
      const below = i === 0 ? 0 : counts[i - 1];
      const inside = counts[i] - below;
      return inside > 0 ? lower + (bounds[i] - lower) * (rank - below) / inside : bounds[i];
    }
    return null;
  }

  function readingAgo(seconds) {
    const now = readings[readings.length - 1];
    for (let i = readings.length - 2; i >= 0; i--) {
      if (now.time - readings[i].time >= seconds) return readings[i];
    }
    return readings.length > 1 ? readings[0] : null;
  }

  // --- charts --------------------------------------------------------------------------------------------

  function chart(name, series) {
    const el = document.getElementById("chart-" + name);
    columns[name] = [[], ...series.map(() => [])];
    charts[name] = new uPlot({
      width: Math.max(320, el.clientWidth),
      height: 190,
      scales: { x: { time: true } },
      series: [{}, ...series.map(([label, color]) => ({ label, stroke: color, width: 2, spanGaps: true }))],
      axes: [{}, { size: 60 }],
    }, columns[name], el);
  }

  function push(name, time, values) {
    const data = columns[name];
    data[0].push(time);
    values.forEach((v, i) => data[i + 1].push(v));
    while (data[0].length && time - data[0][0] > windowS) data.forEach((column) => column.shift());
    charts[name].setData(data);
  }

  chart("stock", [["stock left", "#1565c0"], ["units sold", "#2e7d32"], ["pending payment", "#ef6c00"]]);
  chart("requests", [...CODES, "other"].map((code) => [code, COLORS[code]]));
  chart("sales", [["sales/s", "#2e7d32"]]);
  chart("load", [["admission slots", "#6a1b9a"], ["queue depth", "#c62828"], ["pending requests", "#757575"]]);
  chart("latency", [["p50", "#1565c0"], ["p99", "#c62828"]]);

  // --- the page --------------------------------------------------------------------------------------------

  function show(id, value, digits) {
    document.getElementById(id).textContent =
      value === null || value === undefined ? "–" : (digits === undefined ? String(value) : value.toFixed(digits));
  }

  function reconcileText(report) {
    if (!report) return "not checked yet";
    const found = report.drift.filter((d) => d.check !== "not_loaded");
    if (!found.length) return "agree";
    return found.map((d) => d.check + (d.fixed ? " (fixed)" : "")).join("; ");
  }

  // Beat sweeps lost requests and expires unpaid orders: its age in red once it has missed a few ticks.
  function showBeat(reading) {
    const el = document.getElementById("fig-beat");
    const age = reading.beat_age_s;
    el.textContent = age === null || age === undefined ? reading.beat : reading.beat + " (" + age.toFixed(0) + " s ago)";
    el.className = reading.beat === "ok" ? "" : "alarm";
  }

  // A draw's progress (seckill/ops/live.py): its state, entries and entries a second, then its winners.
  function showDraw(reading, before) {
    const draw = reading.draw;
    document.getElementById("draw-figures").hidden = !draw;
    if (!draw) return;
    const text = draw.draw_seconds === null ? draw.state
      : `${draw.state}: ${draw.winners} winners in ${draw.draw_seconds.toFixed(2)} s, ${draw.handed_on} handed on`;
    show("fig-draw", text);
    show("fig-entries", draw.entries);
    show("fig-entries-rate", perSecond(reading, before, (r) => answersOf(r, "entered")), 1);
  }

  function take(reading) {
    const before = readings.length ? readings[readings.length - 1] : null;
    readings.push(reading);
    while (reading.time - readings[0].time > windowS) readings.shift();
    const recent = readingAgo(QUANTILE_WINDOW_S);
    const ms = (s) => (s === null ? null : s * 1000);
    const p50 = ms(quantile(0.5, reading, recent));
    const p99 = ms(quantile(0.99, reading, recent));
    const requestsRate = perSecond(reading, before, allAnswers);
    const salesRate = perSecond(reading, before, (r) => r.orders.created);

    push("stock", reading.time, [reading.stock_left, sold(reading), reading.orders.pending_payment]);
    push("requests", reading.time, [...CODES, "other"].map((c) => perSecond(reading, before, (r) => answersOf(r, c))));
    push("sales", reading.time, [salesRate]);
    push("load", reading.time, [reading.admission_slots, reading.queue_depth, reading.requests_pending]);
    push("latency", reading.time, [p50, p99]);

    show("fig-status", reading.product.status);
    show("fig-redis", reading.redis);
    showHosts(reading.hosts);
    show("fig-workers", reading.workers_live);
    showBeat(reading);
    show("fig-reconcile", reading.redis === "ok" ? reconcileText(reading.reconcile) : "–");
    show("fig-stock-left", reading.stock_left === null ? reading.ledger_stock_left : reading.stock_left);
    show("fig-sold", sold(reading));
    show("fig-pending-payment", reading.orders.pending_payment);
    show("fig-paid", reading.orders.paid);
    show("fig-requests-rate", requestsRate, 1);
    show("fig-sales-rate", salesRate, 1);
    show("fig-slots", reading.admission_slots);
    show("fig-queue", reading.queue_depth);
    show("fig-p50", p50, 1);
    show("fig-p99", p99, 1);
    showDraw(reading, before);
    window.seckillLive.readings = readings.length;
    window.seckillLive.last = reading;
  }

  async function poll() {
    const state = document.getElementById("live-state");
    try {
      const response = await fetch(readingUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      take(await response.json());
      state.textContent = "live, " + new Date().toLocaleTimeString();
      state.className = "";
    } catch (error) {
      state.textContent = "no reading (" + error.message + "), retrying";
      state.className = "errornote";
    }
    setTimeout(poll, intervalMs);
  }

  window.seckillLive = { readings: 0, last: null, charts, columns, quantile };
  window.addEventListener("resize", () => {
    for (const [name, c] of Object.entries(charts)) {
      c.setSize({ width: Math.max(320, document.getElementById("chart-" + name).clientWidth), height: 190 });
    }
  });
  poll();
})();
