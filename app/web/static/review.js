// The review queue's keys. The page works without this file: each key presses a link or a
// button that is on the page.
//   j / k      the next / previous file (across pages)
//   1-9        change the verdict to the category with that number
//   0 or n     change it to none
//   Enter      confirm the verdict
//   r          redo: ask the model again
(() => {
  "use strict";
  let busy = false; // a check is on its way: a second key would check the next file blindly

  const rows = () => Array.from(document.querySelectorAll("#queue .queue-row"));

  function go(url) {
    if (url) {
      busy = true;
      window.location.assign(url);
    }
  }

  function move(step) {
    const all = rows();
    const current = all.findIndex((row) => row.getAttribute("aria-selected") === "true");
    const target = current === -1 ? all[step > 0 ? 0 : all.length - 1] : all[current + step];
    if (target) {
      go(target.dataset.url);
      return;
    }
    const pageLink = document.getElementById(step > 0 ? "next-page" : "previous-page");
    if (pageLink) go(pageLink.href);
  }

  function press(button) {
    if (button && !button.disabled) {
      busy = true;
      button.click();
    }
  }

  function typing(target) {
    return target instanceof Element &&
      target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  document.addEventListener("keydown", (event) => {
    if (busy || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    const detail = document.getElementById("detail");
    const key = event.key;
    if (key === "j") {
      move(1);
    } else if (key === "k") {
      move(-1);
    } else if (!detail) {
      return;
    } else if (key >= "1" && key <= "9") {
      const button = detail.querySelector(`button[data-key="${key}"]`);
      if (!button) return;
      press(button);
    } else if (key === "0" || key === "n") {
      press(document.getElementById("change-none"));
    } else if (key === "Enter") {
      // Enter on a link or a button is that link's or button's own.
      if (event.target instanceof Element && event.target.closest("a, button")) return;
      press(document.getElementById("confirm"));
    } else if (key === "r") {
      press(document.getElementById("redo"));
    } else {
      return;
    }
    event.preventDefault();
  });

  // A check or a move lands on a page whose selected file may be far down the queue. (On a
  // phone the selected file comes first, above the queue: stay there.)
  const chosen = document.querySelector('#queue .queue-row[aria-selected="true"]');
  if (chosen && window.matchMedia("(min-width: 901px)").matches) {
    chosen.scrollIntoView({ block: "nearest" });
  }

  // Back from the browser's cache (after a check, Back): keys work again.
  window.addEventListener("pageshow", () => { busy = false; });
})();
