// crmkit's own script: no inline script anywhere, so the Content Security Policy can forbid it.
"use strict";

// Every htmx request carries the CSRF token (Flask-WTF reads the X-CSRFToken header).
// A listener rather than hx-headers: it needs no inheritance rules and no eval.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && event.detail.verb !== "get") {
    event.detail.headers["X-CSRFToken"] = meta.content;
  }
});

// Lookup inputs: a select holding the current record becomes an autocomplete over the
// object's suggestions (/o/<object>/suggest?q=), or over its data-lookup-url (a user lookup:
// /users/suggest?q=), when Tom Select is on the page. Without it (or without script) the
// select still submits the current value.
function crmkitLookups(root) {
  if (typeof window.TomSelect === "undefined") {
    return;
  }
  root.querySelectorAll("select[data-lookup-object], select[data-lookup-url]").forEach(function (select) {
    if (select.tomselect || !(select.dataset.lookupObject || select.dataset.lookupUrl)) {
      return;
    }
    var address = select.dataset.lookupUrl ? select.dataset.lookupUrl + "?q=" :
      "/o/" + encodeURIComponent(select.dataset.lookupObject) + "/suggest?q=";
    var control = new window.TomSelect(select, {
      valueField: "value",
      labelField: "text",
      searchField: [],
      maxOptions: 20,
      allowEmptyOption: true,
      preload: "focus",
      placeholder: select.dataset.placeholder || "",
      // The server decides what matches (prefixes, Chinese pairs, pinyin), so nothing is filtered
      // here: each answer replaces the previous one's options (the chosen record stays), or the
      // first 20 loaded on focus would hide what was typed for.
      load: function (query, callback) {
        var self = this;
        fetch(address + encodeURIComponent(query), {credentials: "same-origin", headers: {"Accept": "application/json"}})
          .then(function (response) { return response.ok ? response.json() : []; })
          .then(function (options) {
            if (query !== self.inputValue()) {  // an answer for text typed earlier, arriving late: not shown
              callback();
              return;
            }
            self.clearOptions();
            callback(options);
          })
          .catch(function () { callback(); });
      }
    });
    // The label now names Tom Select's input; the original select is kept only to submit the value.
    select.setAttribute("aria-hidden", "true");
    if (select.getAttribute("aria-describedby")) {
      control.control_input.setAttribute("aria-describedby", select.getAttribute("aria-describedby"));
    }
  });
}

document.addEventListener("DOMContentLoaded", function () { crmkitLookups(document); });
document.addEventListener("htmx:afterSettle", function (event) { crmkitLookups(event.target); });

// A list's filter form sends only the controls that hold a value, so the address it pushes
// into the history reads like a hand-written one (?q=acme&stage__in=Won) and stays short.
document.addEventListener("htmx:configRequest", function (event) {
  var form = event.detail.elt;
  if (event.detail.verb !== "get" || !form || form.id !== "list-form") {
    return;
  }
  var parameters = event.detail.parameters;
  Object.keys(parameters).forEach(function (key) {
    var value = parameters[key];
    var blank = Array.isArray(value) ? value.every(function (item) { return item === ""; }) : value === "";
    // In a saved view an emptied search stays (?view=3&q=): the view as changed, not the view as saved.
    if (blank && !(key === "q" && parameters.view)) {
      delete parameters[key];
    }
  });
});

// A timeline's "Older entries" button is replaced by the entries it loaded: keyboard and
// screen-reader users are taken to the first of them instead of losing their place.
document.addEventListener("htmx:afterSettle", function () {
  var first = document.querySelector("[data-timeline-first]");
  if (first) {
    first.removeAttribute("data-timeline-first");
    first.focus();
  }
});

// A form the engine refused (422) comes back with its summary of errors: keyboard and
// screen-reader users are taken to it instead of staying on a button that moved away.
document.addEventListener("htmx:afterSettle", function (event) {
  var xhr = event.detail.xhr;
  var summary = document.getElementById("record-errors");
  if (!xhr || xhr.status !== 422 || !summary) {  // the form swapped itself (outerHTML): its old target is gone
    return;
  }
  summary.setAttribute("tabindex", "-1");
  summary.focus();
});

// A password's repeat box (data-repeat-of: the id of the first box) says that the two differ,
// beside itself, when the form is about to be sent (it is then not sent, and the box has the
// focus); the message goes as soon as the two match. Not when the box is left: a message
// appearing then would move the button being clicked away from the pointer. The server checks
// again. Only while the form sets a password ("Set this password" chosen, when it offers the
// choice). Its message is the box's data-mismatch, in the page's language.
function crmkitRepeatDiffers(repeat) {
  var first = document.getElementById(repeat.dataset.repeatOf);
  var mode = repeat.form ? repeat.form.querySelector('input[name="password_mode"]:checked') : null;
  return Boolean(first) && (!mode || mode.value === "set") && first.value !== repeat.value;
}

function crmkitShowRepeat(repeat, differs) {
  var problem = document.getElementById(repeat.id + "-problem");
  repeat.classList.toggle("is-invalid", differs);
  if (differs) {
    repeat.setAttribute("aria-invalid", "true");
  } else {
    repeat.removeAttribute("aria-invalid");
  }
  if (problem) {
    problem.textContent = differs ? repeat.dataset.mismatch : "";
  }
}

document.addEventListener("input", function (event) {
  var repeat = event.target.closest && event.target.closest("input[data-repeat-of]");
  if (repeat && !crmkitRepeatDiffers(repeat)) {
    crmkitShowRepeat(repeat, false);  // typed to the end: the message goes as soon as they match
  }
});

document.addEventListener("submit", function (event) {
  var repeat = event.target.querySelector("input[data-repeat-of]");
  if (repeat && crmkitRepeatDiffers(repeat)) {
    event.preventDefault();
    crmkitShowRepeat(repeat, true);
    repeat.focus();
  }
});

// The page's script is ready: every script of the page has set itself up (htmx, lookups, the
// list's and the board's own, which run before this file) and htmx has processed the page.
// `<html data-crmkit-ready="true">` says so; browser tests wait for it before they interact
// (tests/browser/conftest.py: ready), so no click or keystroke reaches a page whose script
// is still loading.
document.addEventListener("DOMContentLoaded", function () {
  window.setTimeout(function () { document.documentElement.dataset.crmkitReady = "true"; }, 0);
});
