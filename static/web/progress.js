// Live progress bars: every element with data-task-progress asks its data-url (same origin,
// the /tasks/<id>/ JSON endpoint) for the task's state until the task has finished.
// With data-reload-when-done the page reloads once the task is done, to show its results.
(function () {
  "use strict";

  var INTERVAL_MS = 1500;
  var MAX_FAILURES = 5;

  function track(element) {
    var url = element.getAttribute("data-url");
    var bar = element.querySelector("progress");
    var stage = element.querySelector("[data-stage]");
    var percent = element.querySelector("[data-percent]");
    var error = element.querySelector("[data-error]");
    var failures = 0;

    function show(task) {
      var value = Math.max(0, Math.min(100, Number(task.percent) || 0));
      if (bar) { bar.value = value; bar.textContent = value + " %"; }
      if (percent) { percent.textContent = value + " %"; }
      if (stage) { stage.textContent = task.stage || task.state.toLowerCase(); }
      if (error && task.error) { error.textContent = task.error; error.hidden = false; }
    }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (task) {
          failures = 0;
          show(task);
          if (!task.finished) {
            window.setTimeout(poll, INTERVAL_MS);
          } else if (element.hasAttribute("data-reload-when-done")) {
            window.location.reload();
          }
        })
        .catch(function (reason) {
          failures += 1;
          if (failures < MAX_FAILURES) {
            window.setTimeout(poll, INTERVAL_MS * failures);
          } else if (error) {
            error.textContent = "Progress is not available (" + reason.message + "); reload the page to try again.";
            error.hidden = false;
          }
        });
    }

    window.setTimeout(poll, INTERVAL_MS);
  }

  document.querySelectorAll("[data-task-progress]").forEach(track);
})();
