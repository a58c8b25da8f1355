// Keyboard-first annotation: number keys label, z-b pick confidence, s skips, u undoes.
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target instanceof HTMLElement && target.matches("input[type=text], textarea, select")) return;
  const key = event.key.toLowerCase();
  const radio = document.querySelector(`#confidence-form input[data-key="${CSS.escape(key)}"]`);
  if (radio) {
    radio.checked = true;
    event.preventDefault();
    return;
  }
  const button = document.querySelector(`#annotate-panel button[data-key="${CSS.escape(key)}"]`);
  if (button && !button.disabled) {
    // A key may arrive before htmx has initialised a just-swapped button; process is idempotent.
    window.htmx?.process(button);
    button.click();
    event.preventDefault();
  }
});
// The confidence form is only read by htmx (hx-include); Enter must not submit it.
document.addEventListener("submit", (event) => {
  if (event.target instanceof HTMLFormElement && event.target.id === "confidence-form") {
    event.preventDefault();
  }
});
