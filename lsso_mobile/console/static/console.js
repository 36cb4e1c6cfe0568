// The console's only script (no inline script: the CSP forbids it). Keyboard shortcuts, Ctrl+Enter to send,
// canned replies by typing "/" at the start of a reply, and the shortcut list.
(function () {
  "use strict";
  var selected = -1;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-list] [data-row]")); }

  function select(index) {
    var list = rows();
    if (!list.length) { return; }
    selected = Math.max(0, Math.min(list.length - 1, index));
    list.forEach(function (row, i) { row.classList.toggle("selected", i === selected); });
    var link = list[selected].querySelector("[data-open]");
    if (link) { link.focus(); }
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function help() {
    var dialog = document.getElementById("help");
    if (dialog && !dialog.open) { dialog.showModal(); }
  }

  function submit(form) {
    if (form) { if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); } }
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.tagName === "TEXTAREA") {
      event.preventDefault();
      submit(target.form);
      return;
    }
    if (typing(target) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key;
    if (key === "j" || key === "k") {
      event.preventDefault();
      select(selected + (key === "j" ? 1 : -1));
    } else if (key === "?") {
      event.preventDefault();
      help();
    } else if (key === "r" || key === "n") {
      var field = document.querySelector('textarea[data-key="' + key + '"]');
      if (field) { event.preventDefault(); field.focus(); }
    } else if (key === "a" || key === "e") {
      var form = document.querySelector('form[data-key="' + key + '"]');
      if (form) { event.preventDefault(); submit(form); }
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-help]")) { help(); }
  });

  // Canned replies: "/" typed into an empty reply opens the picker; choosing one inserts its text.
  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target.matches && target.matches("textarea[data-canned]") && target.value === "/") {
      var menu = target.form.querySelector("[data-canned-menu]");
      if (menu) { menu.hidden = false; target.value = ""; menu.querySelector("[data-canned-pick]").focus(); }
    }
  });
  document.addEventListener("change", function (event) {
    var pick = event.target;
    if (!(pick.matches && pick.matches("[data-canned-pick]"))) { return; }
    var form = pick.form;
    var templates = form.querySelectorAll("template[data-canned-title]");
    for (var i = 0; i < templates.length; i++) {
      if (templates[i].getAttribute("data-canned-title") === pick.value) {
        var area = form.querySelector("textarea[data-canned]");
        area.value = templates[i].content.textContent;
        form.querySelector("[data-canned-menu]").hidden = true;
        pick.value = "";
        area.focus();
        return;
      }
    }
  });

  // Keep the j/k selection when the inbox refreshes itself.
  document.addEventListener("htmx:afterSwap", function () { if (selected >= 0) { select(selected); } });
})();
