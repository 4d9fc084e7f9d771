// muster console: comforts only; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // The viewer's time zone, sent at sign-in: the server shows times in it.
  document.querySelectorAll("input[data-tz]").forEach(function (el) {
    try { el.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { el.value = ""; }
  });
  // Forms that change the audience ask once more.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });
});
