// Auto-refresh for the dashboard's live pages: reloads every few seconds,
// unless paused (remembered per browser), while the tab is visible and the
// operator is not in the middle of filling in or selecting something.
(function () {
  "use strict";
  var button = document.getElementById("refresh");
  if (!button) {
    return;
  }
  var key = "dashboard.refresh.paused";
  var every = 5000;
  var paused = window.localStorage.getItem(key) === "1";
  function show() {
    button.textContent = paused ? "Auto-refresh paused" : "Auto-refresh on";
    button.setAttribute("aria-pressed", paused ? "false" : "true");
    button.classList.toggle("paused", paused);
  }
  function busy() {
    var el = document.activeElement;
    if (el && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName)) {
      return true;
    }
    return document.querySelector("input[name=id]:checked, details[open]") !== null;
  }
  button.hidden = false;
  show();
  button.addEventListener("click", function () {
    paused = !paused;
    window.localStorage.setItem(key, paused ? "1" : "0");
    show();
  });
  window.setInterval(function () {
    if (!paused && !document.hidden && !busy()) {
      window.location.reload();
    }
  }, every);
})();
