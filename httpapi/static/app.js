// Niceties only: nothing on these pages needs this script. It shows times
// in the reader's own time zone and keeps "time left" current.
(function () {
  "use strict";
  var local = new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });

  function words(ms) {
    var minutes = Math.round(ms / 60000);
    var d = Math.floor(minutes / 1440), h = Math.floor(minutes / 60) % 24, m = minutes % 60;
    function unit(n, one) { return n + " " + one + (n === 1 ? "" : "s"); }
    if (d > 0) { return h > 0 ? unit(d, "day") + " " + unit(h, "hour") : unit(d, "day"); }
    if (h > 0) { return m > 0 ? unit(h, "hour") + " " + unit(m, "minute") : unit(h, "hour"); }
    if (m > 0) { return unit(m, "minute"); }
    return "less than a minute";
  }

  function each(selector, fn) {
    var nodes = document.querySelectorAll(selector);
    for (var i = 0; i < nodes.length; i++) {
      var t = new Date(nodes[i].getAttribute("datetime"));
      if (!isNaN(t)) { fn(nodes[i], t); }
    }
  }

  function update() {
    var now = Date.now();
    each("time[data-left]", function (el, t) {
      el.textContent = t - now > 0 ? words(t - now) + " left" : "passed";
      el.classList.toggle("left-soon", t - now < 7200000);
    });
    each("time[data-ago]", function (el, t) {
      el.textContent = now - t < 60000 ? "just now" : words(now - t) + " ago";
    });
  }

  each("time[data-local]", function (el, t) {
    el.title = el.textContent;
    el.textContent = local.format(t);
  });
  update();
  setInterval(update, 15000);
})();
