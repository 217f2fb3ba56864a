// relance web app: the little script there is. Pages work without it.
"use strict";
document.addEventListener("submit", function (event) {
  // Forms that change a case by hand or a user ask once before they go.
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  // One click, one action: a second click while the page loads does not post twice.
  var buttons = form.querySelectorAll("button[type=submit]");
  window.setTimeout(function () { buttons.forEach(function (b) { b.disabled = true; }); }, 0);
});
document.addEventListener("change", function (event) {
  // The case list's state and closed filters apply at once.
  var field = event.target;
  if (field.form && field.form.classList.contains("filters") && (field.name === "etat" || field.name === "clos")) {
    field.form.submit();
  }
});
