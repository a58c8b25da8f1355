// The items page: "All on this page" checks every row's box. The results are swapped
// in by htmx, so the handler is delegated from the document.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || box.id !== "select-all") return;
  for (const row of document.querySelectorAll('#items-table input[name="items"]')) {
    row.checked = box.checked;
  }
});
