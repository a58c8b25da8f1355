// Keyboard-first annotation and review. Every key comes from the page: a button's
// data-key (labels, skip, undo, send back), a confidence radio's or, on multi-label
// projects, a label toggle's; Enter accepts the model's suggestion or submits the set
// of toggled labels or the spans (span projects: static/winnow/spans.js), "/" filters the labels, "?" opens the overview of keys.
function typing(target) {
  return target instanceof HTMLElement &&
    target.matches("input:not([type=radio]):not([type=checkbox]), textarea, select, [contenteditable]");
}

function press(button) {
  if (!button || button.disabled) return false;
  // A key may arrive before htmx has initialised a just-swapped button; process is idempotent.
  window.htmx?.process(button);
  button.click();
  return true;
}

function openHelp() {
  const help = document.getElementById("help");
  if (help && !help.open) help.showModal();
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector("dialog[open]")) return; // the dialog has the keyboard; Esc closes it
  const target = event.target;
  if (typing(target)) return;
  if (event.key === "?") {
    openHelp();
    event.preventDefault();
    return;
  }
  if (event.key === "Enter") {
    if (target instanceof HTMLElement && target.matches("button, a, summary, [role=button]")) return;
    const setForm = document.querySelector("#annotate-panel #set-form, #annotate-panel #spans-form");
    if (setForm) {
      event.preventDefault();
      window.htmx?.process(setForm); // as in press(): the form may be just swapped in
      setForm.requestSubmit();
      return;
    }
    if (press(document.querySelector("#annotate-panel button.suggested"))) event.preventDefault();
    return;
  }
  if (event.key === "/") {
    const filter = document.getElementById("label-filter");
    if (filter) {
      filter.focus();
      event.preventDefault();
    }
    return;
  }
  const key = event.key.toLowerCase();
  if (key.length !== 1) return;
  const radio = document.querySelector(`#confidence-form input[data-key="${CSS.escape(key)}"]`);
  if (radio) {
    radio.checked = true;
    event.preventDefault();
    return;
  }
  const toggle = document.querySelector(`#set-form input[type=checkbox][data-key="${CSS.escape(key)}"]`);
  if (toggle) {
    toggle.checked = !toggle.checked;
    event.preventDefault();
    return;
  }
  if (press(document.querySelector(`#annotate-panel button[data-key="${CSS.escape(key)}"]`))) {
    event.preventDefault();
  }
});

// The label filter: typing hides the labels whose name does not contain the text; Enter
// picks the first one shown; Esc clears the filter and gives the keys back.
function visibleLabels() {
  return [...document.querySelectorAll("#annotate-panel .labels button, #annotate-panel .labels label")]
    .filter((b) => !b.hidden);
}

document.addEventListener("input", (event) => {
  const filter = event.target;
  if (!(filter instanceof HTMLInputElement) || filter.id !== "label-filter") return;
  const text = filter.value.trim().toLowerCase();
  for (const button of document.querySelectorAll("#annotate-panel .labels [data-label]")) {
    button.hidden = text !== "" && !button.dataset.label.includes(text);
  }
});

document.addEventListener("keydown", (event) => {
  const filter = event.target;
  if (!(filter instanceof HTMLInputElement) || filter.id !== "label-filter") return;
  if (event.key === "Enter") {
    event.preventDefault();
    const first = visibleLabels()[0];
    const toggle = first?.querySelector("input[type=checkbox]");
    if (toggle) toggle.checked = !toggle.checked;
    else press(first);
  } else if (event.key === "Escape") {
    filter.value = "";
    filter.dispatchEvent(new Event("input", { bubbles: true }));
    filter.blur();
  }
});

// Each item starts at the confidence the server gives it (the project's default, or the
// label being changed), rather than carrying the last item's over. Once per panel, at its
// swap: a confidence key pressed as soon as the item shows is not undone afterwards.
function resetConfidence(panel) {
  const value = panel.dataset.confidence;
  if (!value) return;
  const radio = document.querySelector(`#confidence-form input[value="${CSS.escape(value)}"]`);
  if (radio) radio.checked = true;
}

// Small images (digits, icons) are scaled up with crisp pixels; large ones smoothly.
function markSmallImage(img) {
  if (img.naturalWidth && img.naturalWidth < 256) img.classList.add("small-image");
}

function preparePanel() {
  const panel = document.getElementById("annotate-panel");
  if (!panel || panel.dataset.prepared) return;
  panel.dataset.prepared = "yes";
  resetConfidence(panel);
  const img = panel.querySelector("#image-zoom img");
  if (img) {
    if (img.complete) markSmallImage(img);
    else img.addEventListener("load", () => markSmallImage(img), { once: true });
  }
}

// afterSwap runs in the same task as the swap; load is the fallback.
document.addEventListener("htmx:afterSwap", preparePanel);
document.addEventListener("htmx:load", preparePanel);

document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target : null;
  const zoom = target?.closest("#image-zoom");
  if (zoom) {
    zoom.setAttribute("aria-pressed", zoom.getAttribute("aria-pressed") === "true" ? "false" : "true");
    return;
  }
  if (target?.closest("#help-open")) openHelp();
});

// The guidelines panel stays open or closed as the annotator left it.
document.addEventListener("DOMContentLoaded", () => {
  preparePanel();
  const details = document.getElementById("guidelines-details");
  if (!details) return;
  const stored = localStorage.getItem("winnow.guidelines");
  if (stored !== null) details.open = stored === "open";
  details.addEventListener("toggle", () => {
    localStorage.setItem("winnow.guidelines", details.open ? "open" : "closed");
  });
});

// The confidence form is only read by htmx (hx-include); Enter must not submit it.
document.addEventListener("submit", (event) => {
  if (event.target instanceof HTMLFormElement && event.target.id === "confidence-form") {
    event.preventDefault();
  }
});
