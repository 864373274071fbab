// The three-rates dashboard: draws the page's figures with ECharts and follows the view.
// The figures are in the page (a JSON block the server wrote); on each change in the place
// the page is fetched again and its dashboard swapped in, so the numbers never come from
// two sources.
(function () {
  "use strict";
  var charts = [];
  var COLOURS = ["#1d5fa8", "#2f8f46", "#b3261e"];

  function words() { return JSON.parse(document.getElementById("chart-words").textContent); }
  function pct(bp) { return bp === null ? null : bp / 100; }

  function draw() {
    charts.forEach(function (c) { c.dispose(); });
    charts = [];
    if (!window.echarts) { return; }
    var data = JSON.parse(document.getElementById("chart-data").textContent);
    var w = words();
    var rowsEl = document.getElementById("rows-chart");
    if (rowsEl && data.rows.length) {
      var rowsChart = echarts.init(rowsEl, null, { renderer: "svg" });
      rowsChart.setOption({
        animation: false,
        legend: { top: 0 },
        grid: { left: 44, right: 36, top: 56, bottom: 30 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: data.rows.map(function (r) { return r.name; }) },
        yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
        series: data.rates.map(function (rate, i) {
          var s = { name: w.rates[i], type: "bar", color: COLOURS[i],
                    data: data.rows.map(function (r) { return pct(r.basis_points[rate]); }) };
          if (data.targets) {
            s.markLine = { symbol: "none", label: { formatter: "{c}%" },
                           data: [{ yAxis: data.targets[rate] }] };
          }
          return s;
        })
      });
      charts.push(rowsChart);
    }
    var trendEl = document.getElementById("trend-chart");
    if (trendEl) {
      var years = data.trend.map(function (t) { return String(t.year); });
      // One colour per rate: its year-end rate as a line, its target as a dashed step.
      var series = [];
      data.rates.forEach(function (rate, i) {
        series.push({ name: w.rates[i], type: "line", color: COLOURS[i],
                      data: data.trend.map(function (t) { return pct(t.basis_points[rate]); }) });
        series.push({ name: w.rates[i] + w.target, type: "line", step: "end", color: COLOURS[i],
                      symbol: "none", lineStyle: { type: "dashed", width: 1 },
                      data: data.trend.map(function (t) { return t.targets ? t.targets[rate] : null; }) });
      });
      var trendChart = echarts.init(trendEl, null, { renderer: "svg" });
      trendChart.setOption({
        animation: false,
        legend: { top: 0, data: w.rates },
        grid: { left: 44, right: 36, top: 56, bottom: 30 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: years },
        yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
        series: series
      });
      charts.push(trendChart);
    }
  }

  function refresh(position) {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html")
          .getElementById("dashboard");
        var board = document.getElementById("dashboard");
        if (!fresh || !board) { return; }
        ["figures", "rows", "lacking", "lacking-unlisted", "trend", "chart-data"].forEach(function (id) {
          var now = document.getElementById(id), next = fresh.querySelector("#" + id);
          if (now && next) { now.replaceWith(next); }
        });
        draw();
        document.getElementById("live").textContent =
          words().updated.replace("{position}", position);
      });
  }

  function follow() {
    var board = document.getElementById("dashboard");
    if (!board || !window.EventSource) { return; }
    var source = new EventSource(board.dataset.changes);
    source.addEventListener("changed", function (e) { refresh(e.data); });
  }

  function start() {
    draw();
    follow();
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else { start(); }
}());
