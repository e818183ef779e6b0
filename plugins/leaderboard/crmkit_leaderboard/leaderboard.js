// chart: leaderboard (crmkit-leaderboard): the spec's ranked rows as horizontal bars, the leader on top.
// Registered with crmkit's charts.js, which draws it with ECharts like the built-in kinds
// (richText tooltips: no inline style, so the page's Content Security Policy holds).
"use strict";

(function () {
  if (!window.crmkitCharts) {
    return;
  }
  window.crmkitCharts.register("leaderboard", function (spec) {
    var rows = spec.rows.slice().reverse();  // ECharts draws the first category at the bottom
    var label = function (row) { return row.rank + ". " + row.name; };
    return {
      grid: {left: 8, right: 96, top: 8, bottom: 8, containLabel: true},
      tooltip: {renderMode: "richText", confine: true, trigger: "item", formatter: function (params) {
        var row = params.data.row;
        return label(row) + "\n" + spec.value_label + ": " + (row.text || "–") + (row.share ? " (" + row.share + ")" : "");
      }},
      xAxis: {type: "value", show: false},
      yAxis: {type: "category", data: rows.map(label), axisTick: {show: false}, axisLine: {show: false}},
      series: [{
        type: "bar", barMaxWidth: 22,
        label: {show: true, position: "right", formatter: function (params) { return params.data.row.text; }},
        data: rows.map(function (row, index) {
          return {value: row.value, row: row, itemStyle: {opacity: index === rows.length - 1 ? 1 : 0.75}};
        })
      }]
    };
  });
})();
