// Scan page: while the scan is "queued" or "running", polls <section id="scan-status" data-url>
// every data-poll-ms milliseconds (default 2000) and updates [data-field=status|stage|error] and
// progress[data-field=progress]; when it becomes "done" or "failed" it stops and reloads the page
// once, so the server renders the results. The status URL (imaging.views.scan_status) answers
// {status, status_label, stage, stage_label, progress (percent 0..100), error}: the labels are
// already in the page's language, so this script shows labels and keeps codes for logic only.
// A section rendered with data-status="done" or "failed" is not polled (so the reload happens once).
const DEFAULT_POLL_MS = 2000;
const ACTIVE = new Set(["queued", "running"]);
const FINISHED = new Set(["done", "failed"]);

function setText(section, field, text) {
  for (const node of section.querySelectorAll(`[data-field="${field}"]`)) {
    if (node.tagName === "PROGRESS") continue;
    node.textContent = text ?? "";
    if (field === "error") node.hidden = !text;
  }
}

function render(section, scan) {
  const previous = section.dataset.status;
  setText(section, "status", scan.status_label);
  setText(section, "stage", scan.stage_label);
  setText(section, "error", scan.error);
  for (const node of section.querySelectorAll('[data-field="status"]')) {
    if (previous) node.classList.remove(previous);
    if (scan.status) node.classList.add(scan.status); // the status's colour (registry.css)
  }
  const progress = section.querySelector('progress[data-field="progress"]');
  if (progress && typeof scan.progress === "number" && Number.isFinite(scan.progress)) {
    const max = Number(progress.max) || 1; // <progress max="100">: the percent as it is
    progress.value = Math.min(max, Math.max(0, (scan.progress * max) / 100));
  }
  section.dataset.status = scan.status ?? "";
}

export function watchScan(section) {
  const url = section.dataset.url;
  if (!url) return;
  if (FINISHED.has(section.dataset.status)) return; // already finished when the page was rendered
  const pollMs = Number(section.dataset.pollMs) > 0 ? Number(section.dataset.pollMs) : DEFAULT_POLL_MS;
  let reloaded = false;

  async function poll() {
    let scan = null;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.ok) scan = await response.json();
    } catch {
      scan = null; // a network hiccup or an expired session's login page: try again at the next tick
    }
    if (scan) {
      render(section, scan);
      if (FINISHED.has(scan.status)) {
        if (!reloaded) {
          reloaded = true;
          window.location.reload();
        }
        return;
      }
      if (!ACTIVE.has(scan.status)) return; // unknown status: stop polling, leave the page as it is
    }
    window.setTimeout(poll, pollMs);
  }
  window.setTimeout(poll, pollMs);
}

function start() {
  const section = document.querySelector("section#scan-status[data-url]");
  if (section) watchScan(section);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
