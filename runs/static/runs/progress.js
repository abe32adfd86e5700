// Keeps a run's progress box current: asks the server every two seconds until the run ends.
(function () {
  "use strict";
  const box = document.getElementById("run-progress");
  if (!box) { return; }
  const url = box.dataset.statusUrl;
  const seconds = box.dataset.secondsUnit || "s";  // the page's language, from the template
  const set = (id, text) => { document.getElementById(id).textContent = text; };
  function refresh() {
    fetch(url, {credentials: "same-origin"})
      .then((response) => response.json())
      .then((s) => {
        const bar = document.getElementById("run-bar");
        if (s.percent === null) { bar.removeAttribute("value"); } else { bar.value = s.percent; }
        set("run-state", s.state_label);
        set("run-done", s.done);
        set("run-total", s.total === null ? "?" : s.total);
        set("run-rate", s.rate === null ? "—" : s.rate);
        set("run-left", s.seconds_left === null ? "—" : s.seconds_left + " " + seconds);
        set("run-message", s.message);
        if (!s.finished) { window.setTimeout(refresh, 2000); }
      })
      .catch(() => window.setTimeout(refresh, 5000));
  }
  window.setTimeout(refresh, 1000);
})();
