// Settings forms: a stopping rule's parameters show only while its box is ticked.
function showRuleParams(box) {
  const params = document.querySelector(`[data-rule-params="${box.dataset.ruleToggle}"]`);
  if (params) params.hidden = !box.checked;
}
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("[data-rule-toggle]")) {
    showRuleParams(box);
    box.addEventListener("change", () => showRuleParams(box));
  }
});
