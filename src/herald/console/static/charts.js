// The console's charts, drawn by uPlot (vendor/uPlot.iife.min.js) from the console's JSON endpoints.
// A chart is a <div data-chart="kind" data-src="url">; each one has a table of the same numbers next to it,
// so nothing here is the only way to read them. No inline script: the Content-Security-Policy forbids it.
(function () {
  "use strict";
  // Colours with at least 3:1 contrast on white; lines also differ by dash, not by colour alone.
  const COLOURS = ["#0b4f9c", "#a4161a", "#1e6b30", "#7a4d00", "#5b2a86", "#00626b"];
  const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3], [4, 4], [12, 6]];
  const charts = new Map();
  // Time axes in UTC, written as the tables write them; days step by whole days.
  const MINUTES = {values: "{HH}:{mm}", space: 60};
  const DAYS = {values: "{YYYY}-{MM}-{DD}", space: 90, incrs: [86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400]};

  function utc(ts) {
    return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
  }

  function line(label, i, dash) {
    return {label: label, stroke: COLOURS[i % COLOURS.length], width: 2, dash: dash || DASHES[i % DASHES.length],
            spanGaps: false, points: {show: false}};
  }

  const KINDS = {
    throughput(json) {
      const series = json.channels.map((c, i) => line(c.channel, i));
      return {series: series, data: json.channels.map((c) => c.sent), xs: json.minutes, unit: "sent", x: MINUTES};
    },
    latency(json) {
      const series = [];
      const data = [];
      json.channels.forEach((c, i) => {
        if (!c.p95.some((v) => v !== null)) {
          return; // nothing sent in the hour: no line to draw
        }
        // Points too: a minute with sends between idle ones would otherwise draw nothing.
        series.push(Object.assign(line(c.channel + " p50", i, []), {points: {show: true}}),
                    Object.assign(line(c.channel + " p95", i, [8, 4]), {points: {show: true}}));
        data.push(c.p50, c.p95);
      });
      return {series: series, data: data, xs: json.minutes, unit: "seconds", x: MINUTES};
    },
    analytics(json) {
      const names = ["sent", "delivered", "opened", "clicked"];
      const series = names.map((n, i) => Object.assign(line(n, i), {points: {show: true}}));
      return {series: series, data: names.map((n) => json[n]), xs: json.days, unit: "deliveries", x: DAYS};
    },
  };

  function draw(el, json) {
    const shape = KINDS[el.dataset.chart](json);
    const old = charts.get(el);
    if (old) {
      old.destroy();
    }
    const opts = {
      width: Math.max(280, el.clientWidth),
      height: 260,
      tzDate: utc,
      scales: {x: {time: true}},
      series: [{label: "Time (UTC)"}, ...shape.series],
      axes: [shape.x, {label: shape.unit}],
    };
    charts.set(el, new uPlot(opts, [shape.xs, ...shape.data], el));
    el.dataset.drawn = String(Number(el.dataset.drawn || "0") + 1);
  }

  function refresh() {
    const bySource = new Map();
    document.querySelectorAll("[data-chart][data-src]").forEach((el) => {
      const list = bySource.get(el.dataset.src) || [];
      list.push(el);
      bySource.set(el.dataset.src, list);
    });
    bySource.forEach((els, src) => {
      fetch(src, {credentials: "same-origin", headers: {accept: "application/json"}})
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(src + ": " + r.status))))
        .then((json) => els.forEach((el) => draw(el, json)))
        .catch((err) => els.forEach((el) => { el.dataset.error = String(err); }));
    });
  }

  function autoRefresh() {
    const toggle = document.querySelector("[data-refresh-toggle]");
    return !toggle || toggle.checked;
  }

  // Polling pauses while the box is unticked (moving content must be possible to stop).
  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail && event.detail.elt;
    if (elt && elt.hasAttribute("data-poll") && !autoRefresh()) {
      event.preventDefault();
    }
  });
  // Each refresh of the polled fragment (its tables) redraws the charts with the new figures.
  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail && event.detail.target;
    if (target && target.hasAttribute("data-poll")) {
      refresh();
    }
  });
  let resizing = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => charts.forEach((chart, el) => chart.setSize({width: Math.max(280, el.clientWidth), height: 260})), 200);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refresh);
  } else {
    refresh();
  }
})();
