// The kanban board (/o/<object>/kanban): drag a card to another column (SortableJS), or use its
// "Move to" form (keyboard); either posts the new value with the card's version. The server
// answers the columns' new counts and totals, or the engine's sentence: the card goes back to
// the column it came from and the sentence is read out (#kanban-message, aria-live).
// The board's data-targets names, per column, the columns its cards may move to (the field's
// stage transitions, docs/automation.md): while a card is dragged the others are marked
// (.kanban-refused, aria-disabled) and refuse the drop, which is then not sent.
"use strict";

(function () {
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function say(text, ok, fix) {
    var box = document.getElementById("kanban-message");
    if (!box) {
      return;
    }
    box.className = "kanban-message alert py-2 " + (ok ? "alert-success" : "alert-danger");
    box.textContent = text || "";
    if (fix && fix.url && fix.url.charAt(0) === "/" && fix.url.charAt(1) !== "/") {  // a page of this site only
      var link = document.createElement("a");
      link.href = fix.url;
      link.className = "alert-link ms-1";
      link.textContent = fix.text || "";
      box.appendChild(link);
    }
  }

  function byColumn(board, selector, key) {
    var found = null;
    board.querySelectorAll(selector).forEach(function (element) {
      if (element.dataset.column === key) {
        found = element;
      }
    });
    return found;
  }

  function showCounts(board, columns) {
    (columns || []).forEach(function (column) {
      var section = byColumn(board, "section.kanban-column", column.key);
      if (!section) {
        return;
      }
      var count = section.querySelector(".kanban-count");
      var total = section.querySelector(".kanban-total");
      if (count) {
        count.textContent = column.count;
      }
      if (total && column.total !== null) {
        total.textContent = column.total;
      }
    });
  }

  function settle(card, key, version) {
    card.dataset.column = key;
    card.dataset.version = String(version);
    var form = card.querySelector("form.kanban-move");
    if (form) {
      form.elements.version.value = String(version);
      form.elements.value.value = key;
    }
  }

  // The card as saved now (the server's HTML: formulas such as a probability follow the new
  // value), in place of the one shown; the focus stays on its "Move to" select if it was there.
  function replaceCard(card, text) {
    var holder = document.createElement("template");
    holder.innerHTML = text.trim();
    var fresh = holder.content.firstElementChild;
    if (!fresh) {
      return;
    }
    var focused = card.contains(document.activeElement);
    card.replaceWith(fresh);
    if (focused && fresh.querySelector("select")) {
      fresh.querySelector("select").focus();
    }
  }

  // Posts the move; `putBack` returns the card where it was when the server refuses it.
  function move(board, card, key, putBack) {
    var data = new FormData();
    data.append("value", key);
    data.append("version", card.dataset.version);
    data.append("view", board.dataset.view || "");
    card.setAttribute("aria-busy", "true");
    fetch(card.dataset.moveUrl, {
      method: "POST", body: data, credentials: "same-origin",
      headers: {"Accept": "application/json", "X-CSRFToken": csrfToken()}
    }).then(function (response) {
      return response.json().catch(function () { return {message: board.dataset.failed}; })
        .then(function (body) { return {ok: response.ok, body: body}; });
    }).then(function (answer) {
      card.removeAttribute("aria-busy");
      if (answer.ok) {
        settle(card, key, answer.body.version);
        showCounts(board, answer.body.columns);
        if (answer.body.card) {
          replaceCard(card, answer.body.card);
        }
        say(answer.body.message, true);
      } else {
        putBack();
        say(answer.body.message || board.dataset.failed, false, answer.body.fix);
      }
    }).catch(function () {
      card.removeAttribute("aria-busy");
      putBack();
      say(board.dataset.failed, false);
    });
  }

  // The board's data-targets (column key -> the keys its cards may move to), read once; null: any move.
  function targetsOf(board) {
    if (board.targets === undefined) {
      try {
        board.targets = JSON.parse(board.dataset.targets || "null");
      } catch (error) {
        board.targets = null;
      }
    }
    return board.targets;
  }

  // Whether a card in column `from` may move to column `to` (the engine still checks the move).
  function allowed(board, from, to) {
    var targets = targetsOf(board);
    if (!targets || !Object.prototype.hasOwnProperty.call(targets, from)) {
      return from === to || !targets;
    }
    return targets[from].indexOf(to) !== -1;
  }

  // While `card` is dragged, the columns it may not move to say so; `card` null: none.
  function markRefused(board, card) {
    board.querySelectorAll("section.kanban-column").forEach(function (section) {
      var refused = card !== null && !allowed(board, card.dataset.column, section.dataset.column);
      section.classList.toggle("kanban-refused", refused);
      if (refused) {
        section.setAttribute("aria-disabled", "true");
      } else {
        section.removeAttribute("aria-disabled");
      }
    });
  }

  function start(board) {
    if (!board.dataset.mayMove) {
      return;
    }
    if (typeof window.Sortable !== "undefined") {
      board.querySelectorAll("ul.kanban-cards").forEach(function (list) {
        window.Sortable.create(list, {
          group: {name: "kanban", pull: true, put: function (to, from, dragged) {
            return allowed(board, dragged.dataset.column, to.el.dataset.column);
          }},
          handle: ".kanban-handle", draggable: ".kanban-card", animation: 150,
          forceFallback: true,
          onStart: function (event) {
            markRefused(board, event.item);
          },
          onEnd: function (event) {
            markRefused(board, null);
            if (event.from === event.to) {
              return;
            }
            if (!allowed(board, event.item.dataset.column, event.to.dataset.column)) {
              event.from.insertBefore(event.item, event.from.children[event.oldIndex] || null);
              return;
            }
            var from = event.from, card = event.item, oldIndex = event.oldIndex;
            move(board, card, event.to.dataset.column, function () {
              from.insertBefore(card, from.children[oldIndex] || null);
            });
          }
        });
      });
    }
    // The keyboard way: the card's "Move to" form, sent by script, moves the card the same way.
    board.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.classList || !form.classList.contains("kanban-move")) {
        return;
      }
      event.preventDefault();
      var card = form.closest(".kanban-card");
      var key = form.elements.value.value;
      var target = byColumn(board, "ul.kanban-cards", key);
      if (!card || !target || key === card.dataset.column || !allowed(board, card.dataset.column, key)) {
        return;
      }
      var from = card.parentNode, next = card.nextSibling;
      target.insertBefore(card, target.firstChild);
      form.elements.value.focus();
      move(board, card, key, function () {
        from.insertBefore(card, next);
        form.elements.value.value = card.dataset.column;
        form.elements.value.focus();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var board = document.getElementById("kanban-board");
    if (board) {
      start(board);
    }
  });
}());
