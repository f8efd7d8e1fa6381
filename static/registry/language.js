// Language switcher in the top bar: choosing a language submits its form at once (the page works
// without scripts too: a <noscript> button submits it). Kept in a file, not an onchange attribute,
// because the Content-Security-Policy allows no inline script.
for (const select of document.querySelectorAll("select[data-submit-on-change]")) {
  select.addEventListener("change", () => select.form.submit());
}
