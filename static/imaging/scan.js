// Scan page: while the scan is "queued" or "running", polls <section id="scan-status" data-url>
// every 2 s and updates [data-field=status|stage|error] and progress[data-field=progress];
// when it becomes "done" or "failed" it stops and reloads the page once, so the server renders
// the results. The API (ScanSerializer) answers {status, stage, progress (percent 0..100), error}.
// The status text shown is the element's data-label-<status> attribute when there is one (a
// translated label, e.g. data-label-running="En curso"), else the status code itself. A section
// rendered with data-status="done" or "failed" is not polled (so the reload happens only once).
const POLL_MS = 2000;
const ACTIVE = new Set(["queued", "running"]);
const FINISHED = new Set(["done", "failed"]);

function setText(section, field, value, labelled = false) {
  for (const node of section.querySelectorAll(`[data-field="${field}"]`)) {
    if (node.tagName === "PROGRESS") continue;
    const label = labelled && value ? node.getAttribute(`data-label-${value}`) : null;
    node.textContent = label ?? value ?? "";
  }
}

function render(section, scan) {
  setText(section, "status", scan.status, true);
  setText(section, "stage", scan.stage);
  setText(section, "error", scan.error);
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
  const initial = section.dataset.status || section.querySelector('[data-field="status"]')?.textContent.trim();
  if (FINISHED.has(initial)) return; // already finished when the page was rendered
  let reloaded = false;

  async function poll() {
    let scan = null;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.ok) scan = await response.json();
    } catch {
      scan = null; // a network hiccup: try again at the next tick
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
    window.setTimeout(poll, POLL_MS);
  }
  window.setTimeout(poll, POLL_MS);
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
