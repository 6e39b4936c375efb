// The upload page: files dropped or picked are posted to the JSON API with XMLHttpRequest
// (for its upload progress events); on 202 the batch page takes over. Without this script
// the form posts to the page's own route instead. Data is only ever set as textContent.
"use strict";
(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("files");
  const zone = document.getElementById("drop-zone");
  const chosen = document.getElementById("chosen");
  const button = document.getElementById("upload");
  const progress = document.getElementById("upload-progress");
  const errorArea = document.getElementById("upload-error");
  const maxFiles = Number(form.dataset.maxFiles);
  const maxBytes = Number(form.dataset.maxFileBytes);
  const maxMb = form.dataset.maxMb;

  function size(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(0) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function showError(message) {
    errorArea.textContent = message;
  }

  function problem(files) {
    if (files.length === 0) return "Choose or drop at least one file.";
    if (files.length > maxFiles) {
      return "A batch holds at most " + maxFiles + " files; you chose " + files.length + ".";
    }
    const big = Array.from(files).find(function (f) { return f.size > maxBytes; });
    if (big) return big.name + " is larger than " + maxMb + " MB.";
    return "";
  }

  function list() {
    chosen.replaceChildren();
    for (const file of input.files) {
      const item = document.createElement("li");
      item.textContent = file.name + " (" + size(file.size) + ")";
      chosen.appendChild(item);
    }
    showError(input.files.length ? problem(input.files) : "");
  }

  input.addEventListener("change", list);

  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    const files = event.dataTransfer && event.dataTransfer.files;
    if (!files || files.length === 0) return;
    input.files = files;
    list();
  });

  function apiError(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) return body.error.message;
    } catch (ignored) {
      // not JSON: fall through to the status line
    }
    return "The upload failed (" + xhr.status + " " + xhr.statusText + ").";
  }

  function done() {
    button.disabled = false;
    progress.hidden = true;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const files = input.files;
    const message = problem(files);
    if (message) {
      showError(message);
      return;
    }
    showError("");
    const data = new FormData();
    for (const file of files) data.append("files", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.apiUrl);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        progress.max = e.total;
        progress.value = e.loaded;
      }
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 202) {
        progress.value = progress.max;
        const batch = JSON.parse(xhr.responseText).batch;
        window.location.assign(form.dataset.batchUrl + encodeURIComponent(batch.id));
        return;
      }
      done();
      showError(apiError(xhr));
    });
    xhr.addEventListener("error", function () {
      done();
      showError("The upload failed: the server did not answer.");
    });
    button.disabled = true;
    progress.hidden = false;
    progress.removeAttribute("value");
    xhr.send(data);
  });
})();
