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
