// The classification form: "Add more categories" adds a row here instead of a round trip.
// Rows come from the page's <template>; only attributes and textContent are set.
"use strict";
(function () {
  const more = document.getElementById("more-rows");
  const rows = document.getElementById("categories");
  const template = document.getElementById("category-row-template");
  if (!more || !rows || !template) return;

  function addRow() {
    const index = rows.querySelectorAll(".category-row").length;
    const row = template.content.firstElementChild.cloneNode(true);
    row.dataset.row = String(index);
    for (const el of row.querySelectorAll("[id], [name], [for]")) {
      for (const attr of ["id", "name", "for"]) {
        const value = el.getAttribute(attr);
        if (value) el.setAttribute(attr, value.replace("__i__", String(index)));
      }
    }
    row.querySelector(".row-number").textContent = String(index + 1);
    rows.appendChild(row);
    return row;
  }

  more.addEventListener("click", function (event) {
    event.preventDefault();
    addRow().querySelector("input[type=text]").focus();
  });
})();
