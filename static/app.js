// fedbroker page behaviour. Served as a static file: the Content-Security-Policy forbids inline script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Prevent double submission of forms (e.g. a double-clicked "Sign in"). A disabled button is
  // left out of what the form sends, so the pressed button's name and value (the action of
  // "Activate", "Disable", "Delete"...) are carried in a hidden field first.
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", (event) => {
      const pressed = event.submitter;
      if (pressed && pressed.name) {
        const carried = document.createElement("input");
        carried.type = "hidden";
        carried.name = pressed.name;
        carried.value = pressed.value;
        form.appendChild(carried);
      }
      for (const b of form.querySelectorAll("button[type=submit]")) b.disabled = true;
    });
  }
});

// Portal role search: filters as you type. Without script, the same form filters on the server.
document.addEventListener("DOMContentLoaded", () => {
  const input = document.getElementById("role-filter");
  if (!input) return;
  const roles = Array.from(document.querySelectorAll("#roles li.role"));
  const blocks = Array.from(document.querySelectorAll("#roles .account"));
  const noMatch = document.getElementById("no-match");
  const count = document.getElementById("role-count");
  const apply = () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const li of roles) {
      const text = li.dataset.search || "";
      li.hidden = !words.every((w) => text.includes(w));
    }
    for (const block of blocks) {
      block.hidden = !block.querySelector("li.role:not([hidden])");
    }
    const shown = document.querySelectorAll("#roles .account:not(#favourites):not(#recent) li.role:not([hidden])").length;
    if (noMatch) noMatch.hidden = shown > 0;
    if (count) count.textContent = words.length ? `${shown} matching roles` : `${shown} roles`;
  };
  input.addEventListener("input", apply);
});

// Copy buttons on the credentials page.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
    });
  }
});

// The portal remembers the last Region chosen (in this browser) and preselects it on every
// role; "Automatic" is remembered too. A Region pinned by an administrator is never changed.
document.addEventListener("DOMContentLoaded", () => {
  const selects = Array.from(document.querySelectorAll("form.console-form select[name=region]:not(.region-pinned)"));
  if (!selects.length) return;
  let saved = null;
  try { saved = window.localStorage.getItem("fedbroker.region"); } catch { /* storage off */ }
  if (saved !== null) {
    for (const s of selects) {
      if (Array.from(s.options).some((o) => o.value === saved)) s.value = saved;
    }
  }
  for (const s of selects) {
    s.addEventListener("change", () => {
      try { window.localStorage.setItem("fedbroker.region", s.value); } catch { /* storage off */ }
      for (const other of selects) {
        if (other !== s && Array.from(other.options).some((o) => o.value === s.value)) other.value = s.value;
      }
    });
  }
});

// A bookmarked role link opened from the address bar or a bookmark goes on to the console
// without a click; the server marks the form so only for those navigations.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-autosubmit]");
  if (form) form.requestSubmit();
});
