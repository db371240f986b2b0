// Refreshes each [data-refresh] region from its HTML fragment every data-interval seconds
// (at most 10), without a full reload. Skips a tick while the tab is hidden or while keyboard
// focus is inside the region, so a refresh never yanks focus away from an operator.
(function () {
  "use strict";
  var status = document.querySelector("[data-refresh-status]");
  function say(text) { if (status) { status.textContent = text; } }
  function refresh(el) {
    if (document.hidden || el.contains(document.activeElement)) { return; }
    fetch(el.getAttribute("data-refresh"), {headers: {"X-Requested-With": "fetch"}, credentials: "same-origin"})
      .then(function (r) {
        if (r.status === 401) {
          location.href = "/dashboard/login?next=" + encodeURIComponent(location.pathname + location.search);
          return null;
        }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        el.innerHTML = html;
        say("Live: updated " + new Date().toLocaleTimeString() + ".");
      })
      .catch(function (e) { say("Refresh failed (" + e.message + "); retrying."); });
  }
  document.querySelectorAll("[data-refresh]").forEach(function (el) {
    var seconds = Math.min(10, Math.max(2, parseInt(el.getAttribute("data-interval") || "5", 10)));
    setInterval(function () { refresh(el); }, seconds * 1000);
  });
})();
