// Django's autocomplete widget (select2) draws a combobox that takes its name
// from the chosen value only, so an empty one (no owner yet) has no name
// (WCAG 4.1.2). Name it by the field's label followed by the chosen value,
// and its read-only text by the label. select2 draws its widgets after the
// page has loaded (and again for new inline rows), so new ones are watched for.
(function () {
  "use strict";

  function name(select) {
    var container = select.nextElementSibling;
    if (!container || !container.classList.contains("select2")) return;
    var combobox = container.querySelector('[role="combobox"]');
    if (!combobox || combobox.dataset.named) return;
    var label = document.querySelector('label[for="' + select.id + '"]');
    if (!label) return;
    if (!label.id) label.id = select.id + "_label";
    var value = combobox.getAttribute("aria-labelledby");
    combobox.setAttribute("aria-labelledby", value ? label.id + " " + value : label.id);
    combobox.dataset.named = "true";
    container.querySelectorAll('[role="textbox"]').forEach(function (el) {
      el.setAttribute("aria-labelledby", label.id);
    });
  }

  function nameAll() {
    document.querySelectorAll("select.admin-autocomplete").forEach(name);
  }

  document.addEventListener("DOMContentLoaded", function () {
    nameAll();
    new MutationObserver(nameAll).observe(document.body, { childList: true, subtree: true });
  });
})();
