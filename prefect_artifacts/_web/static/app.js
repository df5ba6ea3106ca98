// prefect-artifacts web view: small progressive enhancements (the pages work without it).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Re-run the search when a sort or filter menu changes.
  ["sort", "order", "filter-kind"].forEach(function (id) {
    var el = document.getElementById(id);
    if (el && el.form) {
      el.addEventListener("change", function () { el.form.submit(); });
    }
  });
  // The diff picker: go to the chosen comparison.
  var picker = document.getElementById("diff-with");
  if (picker && picker.form) {
    picker.addEventListener("change", function () { if (picker.value) { picker.form.submit(); } });
  }
});
