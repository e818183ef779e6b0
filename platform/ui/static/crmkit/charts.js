// Dashboard and report charts: each `[data-chart]` element holds its chart's data as JSON
// (crmkit/ui/charts.py's spec: texts already in the viewer's language and locale), which this
// file draws with ECharts. (An attribute rather than a <script type="application/json"> block:
// htmx, with allowScriptTags off, drops script elements from the widgets it swaps in.) No inline script or style: tooltips use ECharts' richText mode (drawn
// in the chart itself, not as HTML with style attributes), so the Content Security Policy keeps
// `style-src 'self'`. A click on a bar, slice, stage or point opens its drill-down address.
"use strict";

// Dashboard widget kinds of plugins (docs/plugins.md, crmkit_dashboard_widgets): each kind's script
// (/plugin-widgets/KIND.js, loaded after this file) calls
// `window.crmkitCharts.register("kind", function (spec, echarts) { return anEChartsOption; })`.
window.crmkitCharts = window.crmkitCharts || {kinds: {}};
window.crmkitCharts.register = function (kind, build) { window.crmkitCharts.kinds[kind] = build; };

(function () {
  if (typeof window.echarts === "undefined") {
    return;
  }
  var STACKED = {stacked_bar: true, area: true};

  function compact(locale) {
    var tag = locale === "ZH" ? "zh-CN" : "en";
    var format = new Intl.NumberFormat(tag, {notation: "compact", maximumFractionDigits: 1});
    return function (value) { return format.format(value); };
  }

  function tooltip(extra) {
    var base = {renderMode: "richText", confine: true};
    Object.keys(extra || {}).forEach(function (key) { base[key] = extra[key]; });
    return base;
  }

  function categoryOption(spec) {
    var horizontal = spec.kind === "bar" || spec.kind === "stacked_bar";
    var type = horizontal ? "bar" : "line";
    var series = spec.series.map(function (one) {
      return {
        name: one.name, type: type,
        stack: STACKED[spec.kind] ? "total" : undefined,
        areaStyle: spec.kind === "area" ? {} : undefined,
        smooth: false,
        emphasis: {focus: "series"},
        data: one.values.map(function (value, index) {
          return {value: value, text: one.texts[index], link: one.links[index]};
        })
      };
    });
    return {
      legend: {show: spec.series.length > 1, type: "scroll", bottom: 0},
      grid: {left: 8, right: 16, top: 16, bottom: spec.series.length > 1 ? 40 : 8, containLabel: true},
      tooltip: tooltip({
        trigger: "item",
        formatter: function (params) {
          return params.name + "\n" + params.seriesName + ": " + (params.data.text || "–");
        }
      }),
      xAxis: {type: "category", data: spec.categories, axisLabel: {hideOverlap: true}},
      yAxis: {type: "value", axisLabel: {formatter: compact(spec.locale)}},
      series: series
    };
  }

  function itemOption(spec) {
    var data = spec.items.map(function (item) {
      // A funnel's width is the deals that reached at least the stage (charts.py), so it narrows downwards.
      var width = item.reached === undefined || item.reached === null ? item.value : item.reached;
      return {name: item.name, value: width, text: item.text, link: item.link, conversion: item.conversion};
    });
    var label = function (params) {
      var text = params.name + ": " + (params.data.text || "–");
      return params.data.conversion ? text + " (" + params.data.conversion + ")" : text;
    };
    var series;
    if (spec.kind === "funnel") {
      series = {type: "funnel", sort: "none", gap: 2, minSize: "20%", left: "10%", width: "80%", top: 8, bottom: 8,
                label: {show: true, position: "inside", formatter: label}, data: data};
    } else {
      series = {type: "pie", radius: spec.kind === "donut" ? ["45%", "70%"] : "70%",
                // Shares beside the slices, names in the legend and tooltips: long names never run off a narrow card.
                label: {formatter: "{d}%"}, labelLine: {length: 6, length2: 6},
                data: data};
    }
    return {
      legend: {show: spec.kind !== "funnel", type: "scroll", bottom: 0},
      tooltip: tooltip({trigger: "item", formatter: label}),
      series: [series]
    };
  }

  function gaugeOption(spec) {
    return {
      tooltip: tooltip({trigger: "item", formatter: function () { return spec.value_label + ": " + spec.text; }}),
      series: [{
        type: "gauge", min: 0, max: spec.max, progress: {show: true, width: 14},
        axisLine: {lineStyle: {width: 14}}, pointer: {show: false}, splitNumber: 4,
        axisTick: {show: false}, splitLine: {length: 8, distance: 4},
        axisLabel: {formatter: compact(spec.locale), distance: 18},
        // The target below the arc's ends (0 and the maximum sit at about 63% down), small, so it never
        // covers their tick labels; the figure and its share of the target in the middle.
        center: ["50%", "55%"], radius: "80%",
        title: {show: true, offsetCenter: [0, "92%"], fontSize: 12, overflow: "truncate", width: 220},
        detail: {valueAnimation: false, offsetCenter: [0, "15%"], fontSize: 18, lineHeight: 24,
                 formatter: function () { return spec.text + (spec.ratio_text ? "\n" + spec.ratio_text : ""); }},
        data: [{value: spec.value, name: spec.target_text ? spec.target_label + " " + spec.target_text : ""}]
      }]
    };
  }

  function option(spec) {
    var built;
    var plugin = window.crmkitCharts.kinds[spec.kind];
    if (plugin) {
      built = plugin(spec, window.echarts);
    } else if (spec.kind === "funnel" || spec.kind === "pie" || spec.kind === "donut") {
      built = itemOption(spec);
    } else if (spec.kind === "gauge") {
      built = gaugeOption(spec);
    } else {
      built = categoryOption(spec);
    }
    built.aria = {enabled: true};
    built.animation = false;
    return built;
  }

  function draw(element) {
    if (element.dataset.chartDrawn === "true") {
      return;
    }
    var spec = JSON.parse(element.dataset.chart);
    var chart = window.echarts.init(element, null, {locale: spec.locale, renderer: "canvas"});
    chart.setOption(option(spec));
    chart.on("click", function (params) {
      var link = params.data && params.data.link;
      if (link) {
        window.location.assign(link);
      }
    });
    element.dataset.chartDrawn = "true";
    if (typeof window.ResizeObserver !== "undefined") {
      new window.ResizeObserver(function () { chart.resize(); }).observe(element);
    }
  }

  function drawAll(root) {
    if (root.matches && root.matches("[data-chart]")) {
      draw(root);
    }
    root.querySelectorAll("[data-chart]").forEach(draw);
  }

  // A widget swapped in by htmx (dashboards load each one on its own) and a page's own charts.
  document.addEventListener("htmx:load", function (event) { drawAll(event.detail.elt); });
  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
})();
