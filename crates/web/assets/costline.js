// The console's one script (served as /assets/costline.js: the CSP allows no inline script).
// Every page works without it; it only adds conveniences.

// Copy buttons next to snippets (hidden without JavaScript).
for (const b of document.querySelectorAll("button.copy")) {
  b.hidden = false;
  b.addEventListener("click", () => navigator.clipboard.writeText(document.getElementById(b.dataset.copy).textContent));
}

// One-time links carry their secret after "#": browsers never send the fragment, so it never
// reaches a server, a proxy or their logs. Fill the form field from it (without JavaScript the
// person pastes it) and drop it from the address bar and history.
for (const input of document.querySelectorAll("input[data-from-fragment]")) {
  const value = decodeURIComponent(location.hash.slice(1));
  if (value && !input.value) {
    input.value = value;
    history.replaceState(null, "", location.pathname + location.search);
    if (input.form && input.form.hasAttribute("data-autosubmit")) {
      input.form.submit();
    }
  }
}
