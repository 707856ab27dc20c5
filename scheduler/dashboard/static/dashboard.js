// Auto-refresh for the dashboard's live pages. Every few seconds, unless
// paused (remembered per browser) or the tab is hidden, it fetches the page
// again and replaces its live regions (the elements marked data-live, by
// id) in place: no reload, so the scroll position, the filter being typed
// and everything outside those regions stay as they are. It waits while a
// person is at work on the page: focus in a form or a live region, text
// selected, a box ticked or a choice changed in a live region, a details
// opened, or a pointer held down. When the page stops being live (an
// instance has finished), refreshing stops.
(function () {
  "use strict";
  var button = document.getElementById("refresh");
  if (!button) {
    return;
  }
  var key = "dashboard.refresh.paused";
  var every = 5000;
  var paused = window.localStorage.getItem(key) === "1";
  var pointerDown = false;
  var fetching = false;
  var timer;

  function show() {
    button.textContent = paused ? "Auto-refresh paused" : "Auto-refresh on";
    button.setAttribute("aria-pressed", paused ? "false" : "true");
    button.classList.toggle("paused", paused);
  }

  // changed says whether a person has changed a control in el from what
  // the page was served with.
  function changed(el) {
    var controls = el.querySelectorAll("input, select, textarea");
    for (var i = 0; i < controls.length; i++) {
      var c = controls[i];
      if (c.type === "checkbox" || c.type === "radio") {
        if (c.checked !== c.defaultChecked) {
          return true;
        }
      } else if (c.tagName === "SELECT") {
        for (var j = 0; j < c.options.length; j++) {
          if (c.options[j].selected !== c.options[j].defaultSelected) {
            return true;
          }
        }
      } else if (c.type !== "hidden" && c.value !== c.defaultValue) {
        return true;
      }
    }
    return false;
  }

  function busy() {
    var el = document.activeElement;
    if (el && el !== document.body && (/^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) || el.closest("form, [data-live]"))) {
      return true;
    }
    if (pointerDown || String(window.getSelection()) !== "") {
      return true;
    }
    if (document.querySelector("[data-live] input[type=checkbox]:checked, details[open]")) {
      return true;
    }
    var live = document.querySelectorAll("[data-live]");
    for (var i = 0; i < live.length; i++) {
      if (changed(live[i])) {
        return true;
      }
    }
    return false;
  }

  function stop() {
    window.clearInterval(timer);
    button.hidden = true;
  }

  function refresh() {
    if (paused || fetching || document.hidden || busy()) {
      return;
    }
    fetching = true;
    window.fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-store", credentials: "same-origin" })
      .then(function (res) {
        if (!res.ok || res.redirected || (res.headers.get("Content-Type") || "").indexOf("text/html") !== 0) {
          return null;
        }
        return res.text();
      })
      .then(function (html) {
        // What the person did while the page was on its way wins.
        if (html === null || busy()) {
          return;
        }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var live = document.querySelectorAll("[data-live]");
        for (var i = 0; i < live.length; i++) {
          // getAttribute: a form's .id is its control named "id", if any.
          var fresh = doc.getElementById(live[i].getAttribute("id"));
          if (fresh) {
            live[i].replaceWith(document.importNode(fresh, true));
          }
        }
        document.title = doc.title;
        if (!doc.getElementById("refresh")) {
          stop();
        }
        document.dispatchEvent(new CustomEvent("dashboard:refreshed"));
      })
      .catch(function () {})
      .then(function () {
        fetching = false;
      });
  }

  document.addEventListener("pointerdown", function () { pointerDown = true; }, true);
  ["pointerup", "pointercancel"].forEach(function (name) {
    document.addEventListener(name, function () { pointerDown = false; }, true);
  });
  button.hidden = false;
  show();
  button.addEventListener("click", function () {
    paused = !paused;
    window.localStorage.setItem(key, paused ? "1" : "0");
    show();
  });
  timer = window.setInterval(refresh, every);
})();
