// The list page's selection and column chooser (templates list_select.html, list_bulk_bar.html, list_columns.html).
"use strict";

(function () {
  function rowBoxes() {
    return Array.prototype.slice.call(document.querySelectorAll("input.list-select-row"));
  }

  // The bar says how many rows are ticked, the header box shows all / some / none, and the
  // actions wait for a selection (without script they stay usable; the server asks for one).
  function refresh() {
    var boxes = rowBoxes();
    var ticked = boxes.filter(function (box) { return box.checked; }).length;
    var count = document.getElementById("bulk-count");
    if (count) {
      count.textContent = count.dataset.template.replace("{n}", String(ticked));
    }
    document.querySelectorAll("[data-bulk-action]").forEach(function (button) {
      button.disabled = ticked === 0;
    });
    var all = document.getElementById("list-select-all");
    if (all) {
      all.checked = boxes.length > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "list-select-all") {
      rowBoxes().forEach(function (box) { box.checked = target.checked; });
      refresh();
    } else if (target.classList && target.classList.contains("list-select-row")) {
      refresh();
    }
  });

  // The bulk pages come back to the list as it is now (htmx may have changed page, sort or filter).
  document.addEventListener("submit", function (event) {
    if (event.target.id === "list-bulk") {
      var next = document.getElementById("bulk-next");
      if (next) {
        next.value = window.location.pathname + window.location.search;
      }
    }
  });

  // Column chooser: move a column up or down; the new place is announced.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-move]") : null;
    if (!button) {
      return;
    }
    var item = button.closest("li");
    var list = item.parentNode;
    if (button.dataset.move === "up" && item.previousElementSibling) {
      list.insertBefore(item, item.previousElementSibling);
    } else if (button.dataset.move === "down" && item.nextElementSibling) {
      list.insertBefore(item.nextElementSibling, item);
    }
    button.focus();
    var status = document.getElementById("column-moved");
    if (status) {
      var position = Array.prototype.indexOf.call(list.children, item) + 1;
      status.textContent = item.querySelector("label").textContent + ": " + position + " / " + list.children.length;
    }
  });

  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSettle", refresh);
})();

// On a phone the open filter panel fills the screen: once "Apply filters" has brought the
// results, the panel folds and the results' count comes into view.
document.addEventListener("htmx:afterSwap", function (event) {
  var target = event.detail.target;
  var trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
  if (!target || target.id !== "list-results" || !trigger || trigger.type !== "submit" ||
      !window.matchMedia("(max-width: 575.98px)").matches) {
    return;
  }
  var panel = document.querySelector("details.list-filters");
  if (panel && panel.open) {
    panel.open = false;
    var count = document.getElementById("list-count");
    if (count) {
      count.scrollIntoView({block: "start"});
    }
  }
});
