// The batch page: polls the JSON API every second until the batch is processed, updating
// the counts, the progress bar, the time left and each file's row. Data is only ever set
// as textContent; the first render came from the server.
"use strict";
(function () {
  const section = document.getElementById("batch");
  if (!section) return;
  const apiUrl = section.dataset.apiUrl;
  const rows = document.querySelector("#batch-files tbody");
  const pollError = document.getElementById("poll-error");
  const STATUSES = ["queued", "processing", "processed", "failed"];
  const INTERVAL = 1000;

  function text(id, value) {
    const el = document.getElementById(id);
    if (el) el.textContent = String(value);
  }

  function secondsLeft(files) {
    // Same as the server: median time of a finished file x files not finished.
    const durations = files
      .filter(function (f) {
        return (f.status === "processed" || f.status === "failed") && f.started_at && f.finished_at;
      })
      .map(function (f) { return (Date.parse(f.finished_at) - Date.parse(f.started_at)) / 1000; })
      .sort(function (a, b) { return a - b; });
    const left = files.filter(function (f) {
      return f.status === "queued" || f.status === "processing";
    }).length;
    if (!left) return 0;
    if (!durations.length) return null;
    const mid = Math.floor(durations.length / 2);
    const median = durations.length % 2 ? durations[mid] : (durations[mid - 1] + durations[mid]) / 2;
    return median * left;
  }

  function timeLeftText(seconds) {
    if (seconds === null) return "estimating the time left…";
    if (seconds === 0) return "nothing left to do";
    if (seconds < 90) return "about " + Math.max(1, Math.round(seconds)) + " s left";
    return "about " + Math.round(seconds / 60) + " min left";
  }

  function verdict(f) {
    if (f.classified_category_name) {
      return f.classified_category_name + (f.classified_category_removed ? " (removed)" : "");
    }
    return f.status === "processed" ? "none" : "";
  }

  function confidence(f) {
    if (f.confidence !== null && f.confidence !== undefined) {
      return Math.round(f.confidence * 100) + " %";
    }
    return f.verdict_source === "override" ? "checked" : "";
  }

  function cell(row, cls) {
    let el = row.querySelector("." + cls);
    if (!el) {
      el = document.createElement("td");
      el.className = cls;
      row.appendChild(el);
    }
    return el;
  }

  function rowFor(f) {
    for (const row of rows.children) {
      if (row.dataset.fileId === f.id) return row;
    }
    const row = document.createElement("tr");
    row.dataset.fileId = f.id;
    const name = cell(row, "file-name");
    name.appendChild(document.createTextNode(f.file_name));
    const error = document.createElement("p");
    error.className = "error file-error";
    error.hidden = true;
    name.appendChild(error);
    ["file-status", "file-verdict", "file-confidence"].forEach(function (c) { cell(row, c); });
    rows.appendChild(row);
    return row;
  }

  function updateRow(f) {
    const row = rowFor(f);
    for (const s of STATUSES) row.classList.toggle("status-" + s, f.status === s);
    cell(row, "file-status").textContent = f.status;
    cell(row, "file-verdict").textContent = verdict(f);
    cell(row, "file-confidence").textContent = confidence(f);
    const error = row.querySelector(".file-error");
    if (error) {
      error.textContent = f.status === "failed" && f.error ? f.error : "";
      error.hidden = !(f.status === "failed" && f.error);
    }
  }

  function render(body) {
    const batch = body.batch;
    const files = body.files;
    const counts = { queued: 0, processing: 0, processed: 0, failed: 0 };
    for (const f of files) if (f.status in counts) counts[f.status] += 1;
    for (const s of STATUSES) text("count-" + s, counts[s]);
    text("batch-status", batch.status);
    section.dataset.status = batch.status;
    text("time-left", timeLeftText(secondsLeft(files)));
    const bar = document.getElementById("batch-progress");
    bar.max = Math.max(1, batch.file_count);
    bar.value = counts.processed + counts.failed;
    bar.textContent = bar.value + " of " + batch.file_count;
    const extractions = document.getElementById("extraction-progress");
    extractions.hidden = !batch.extraction_count;
    text("count-extracted", batch.extracted_count);
    text("count-extractions", batch.extraction_count);
    text("count-extraction-failed", batch.extraction_failed_count);
    files.forEach(updateRow);
  }

  function poll() {
    fetch(apiUrl, { headers: { accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (response.status === 404) {
          throw Object.assign(new Error("This batch no longer exists."), { final: true });
        }
        if (!response.ok) throw new Error("The server answered " + response.status + ".");
        return response.json();
      })
      .then(function (body) {
        pollError.textContent = "";
        render(body);
        if (body.batch.status !== "processed") setTimeout(poll, INTERVAL);
      })
      .catch(function (err) {
        pollError.textContent = err.message + (err.final ? "" : " Trying again…");
        if (!err.final) setTimeout(poll, INTERVAL * 3);
      });
  }

  if (section.dataset.status !== "processed") setTimeout(poll, INTERVAL);
})();
