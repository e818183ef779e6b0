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
              crmkitLateAnswer(self, callback);
              return;
            }
            self.clearOptions();
            callback(options);
            // Tom Select makes the current value active (on a new form: the empty "None"); for
            // typed text the first record that matches it is what Enter should pick.
            var first = query && options.length ? self.getOption(options[0].value) : null;
            if (first) {
              self.setActiveOption(first);
            }
          })
          .catch(function () { crmkitLateAnswer(self, callback); });
      }
    });
    crmkitKeepClosedAfterEscape(control);
    // The label now names Tom Select's input; the original select is kept only to submit the value.
    select.setAttribute("aria-hidden", "true");
    if (select.getAttribute("aria-describedby")) {
      control.control_input.setAttribute("aria-describedby", select.getAttribute("aria-describedby"));
    }
  });
}

// An answer that is not shown (for text typed earlier, or a failed request) still ends its load, but
// Tom Select's end of a load makes the current value active again (on a new form: the empty "None"):
// the option made active for the text typed now stays active, or Enter would pick None.
function crmkitLateAnswer(control, callback) {
  var active = control.activeOption ? control.activeOption.dataset.value : null;
  callback();
  var again = active === null ? null : control.getOption(active);
  if (again) {
    control.setActiveOption(again);
  }
}

// A lookup's list closed with Escape stays closed until the user asks for it again: types, presses
// ArrowDown or ArrowUp, presses the box, or leaves and comes back. Without this Tom Select opens
// it again by itself when its pause after the last keystroke ends (300 ms) or when the search for
// text typed just before Escape comes back, and the next Escape, meant for what holds the lookup
// (an inline editor cancels, see below), only closes the list again. Escape with the list closed
// is never taken by Tom Select.
function crmkitKeepClosedAfterEscape(control) {
  var dismissed = false;
  var open = control.open;
  control.hook("instead", "open", function () {
    if (!dismissed) {
      open.apply(control, arguments);
    }
  });
  function asked() {
    dismissed = false;
  }
  // Capturing on the wrapper: seen before Tom Select's own handlers on the box inside it.
  control.wrapper.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      dismissed = dismissed || control.isOpen;
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      asked();
    }
  }, true);
  control.wrapper.addEventListener("mousedown", asked, true);
  control.wrapper.addEventListener("focusout", asked, true);
  control.control_input.addEventListener("input", asked);
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

// A detail page's inline editor (records/inline_edit.html, in the field's <dd>) is keyboard-usable
// like a dialog: when it opens its first control takes the focus; Escape cancels it, as its
// Cancel button does (not while a lookup's or a select's own list is open: Escape closes that
// first); and once the value is back (cancelled or saved) the focus returns to the field's Edit
// button, so keyboard and screen-reader users keep their place. A refused save (422) keeps the
// editor and puts the focus on the control the error is about.
function crmkitFocusControl(root) {
  var control = root.querySelector("select.is-invalid, input.is-invalid, textarea.is-invalid") ||
    root.querySelector("input:not([type=hidden]), select, textarea");
  if (control && control.tomselect) {  // a lookup: the box one types into, not the hidden select
    control = control.tomselect.control_input;
  }
  if (control) {
    control.focus();
  }
}

document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape" || event.defaultPrevented || !event.target.closest) {
    return;
  }
  var editor = event.target.closest("form.inline-editor");
  var cancel = editor ? editor.querySelector("[data-inline-cancel]") : null;
  if (cancel) {
    event.preventDefault();
    cancel.click();
    return;
  }
  // The list page's pop-up panels (saved views' "Save as", "Rename", "Delete"; "Columns") fold on
  // Escape and give the focus back to the button that opened them.
  var panel = event.target.closest("details.list-views-panel[open]");
  if (panel) {
    event.preventDefault();
    panel.open = false;
    panel.querySelector("summary").focus();
  }
});

document.addEventListener("htmx:beforeRequest", function (event) {
  var element = event.detail.elt;
  var cell = element && element.closest ? element.closest("dd") : null;
  if (cell && (element.classList.contains("inline-edit") || element.closest("form.inline-editor"))) {
    cell.dataset.inlineFocus = "true";  // this cell's swap moves the focus (see the listener below)
  }
});

document.addEventListener("htmx:afterSettle", function (event) {
  var cell = event.detail.target;
  if (!cell || !cell.dataset || cell.dataset.inlineFocus !== "true") {
    return;
  }
  delete cell.dataset.inlineFocus;
  var editor = cell.querySelector("form.inline-editor");
  var edit = cell.querySelector("button.inline-edit");
  if (editor) {
    crmkitFocusControl(editor);
  } else if (edit) {
    edit.focus();
  }
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

// The header's search box is a combobox (WAI-ARIA APG "list autocomplete"): htmx fills the
// listbox #search-preview with the best hits as the user types; focus stays in the box while
// ArrowDown/ArrowUp choose an option (aria-activedescendant), Enter opens the chosen one (or,
// with none chosen, submits the form to the full search page), Escape closes the list, which then
// stays closed until the user types again, presses ArrowDown/ArrowUp or comes back to the box: the
// answer for text typed just before Escape, arriving after it, fills the list but does not open it.
(function () {
  var dismissed = false;
  function parts() {
    var input = document.getElementById("global-search");
    var list = document.getElementById("search-preview");
    return input && list ? {input: input, list: list} : null;
  }

  function options(list) {
    return Array.prototype.slice.call(list.querySelectorAll('a[role="option"]'));
  }

  function choose(found, index) {
    options(found.list).forEach(function (option, position) {
      var chosen = position === index;
      option.setAttribute("aria-selected", chosen ? "true" : "false");
      option.classList.toggle("active", chosen);
      if (chosen) {
        found.input.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({block: "nearest"});
      }
    });
    if (index < 0) {
      found.input.removeAttribute("aria-activedescendant");
    }
  }

  function show(found, open) {
    found.list.hidden = !open;
    found.input.setAttribute("aria-expanded", open ? "true" : "false");
    if (!open) {
      choose(found, -1);
    }
  }

  // An answer for text typed earlier (the box has changed since it was asked) is not shown.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var found = parts();
    if (!found || event.detail.target !== found.list) {
      return;
    }
    var asked = new URL(event.detail.pathInfo.finalRequestPath || event.detail.pathInfo.requestPath,
      window.location.origin).searchParams.get("q") || "";
    if (asked.trim() !== found.input.value.trim()) {
      event.detail.shouldSwap = false;
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var found = parts();
    if (found && event.detail.target === found.list) {
      show(found, !dismissed && found.list.children.length > 0 && document.activeElement === found.input);
    }
  });

  document.addEventListener("keydown", function (event) {
    var found = parts();
    if (!found || event.target !== found.input) {
      return;
    }
    var all = options(found.list);
    var current = all.findIndex(function (option) { return option.getAttribute("aria-selected") === "true"; });
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!all.length) {
        return;
      }
      event.preventDefault();
      dismissed = false;
      show(found, true);
      var step = event.key === "ArrowDown" ? 1 : -1;
      choose(found, current < 0 ? (step > 0 ? 0 : all.length - 1) : (current + step + all.length) % all.length);
    } else if (event.key === "Enter" && !found.list.hidden && current >= 0) {
      event.preventDefault();
      window.location.assign(all[current].href);
    } else if (event.key === "Escape" && !found.list.hidden) {
      event.preventDefault();
      dismissed = true;
      show(found, false);
    }
  });

  document.addEventListener("input", function (event) {
    var found = parts();
    if (found && event.target === found.input) {
      dismissed = false;
    }
    if (found && event.target === found.input && !found.input.value.trim()) {
      show(found, false);
      found.list.replaceChildren();
    }
  });

  // Leaving the search form (a click elsewhere, Tab past the button) closes the list.
  document.addEventListener("focusout", function (event) {
    var found = parts();
    var form = found && found.input.form;
    if (form && form.contains(event.target) && !form.contains(event.relatedTarget)) {
      show(found, false);
    }
  });

  // A press on an option keeps the focus in the box (some browsers do not focus a clicked link), so the click lands.
  document.addEventListener("mousedown", function (event) {
    var found = parts();
    if (found && found.list.contains(event.target)) {
      event.preventDefault();
    }
  });

  document.addEventListener("focusin", function (event) {
    var found = parts();
    if (!found || event.target !== found.input) {
      return;
    }
    dismissed = false;
    if (found.list.children.length && found.input.value.trim()) {
      show(found, true);
    }
  });
})();
