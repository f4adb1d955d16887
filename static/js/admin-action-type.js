// The admin's action form has one group of fields per action type
// (profiles/admin_forms.py typed_action_fieldsets). Show only the group of
// the chosen type, none before a type is chosen. Without JavaScript every
// group stays visible and the form works as before.
(function () {
  "use strict";

  function show(select) {
    document.querySelectorAll("fieldset.action-params").forEach(function (group) {
      group.hidden = !group.classList.contains("action-type-" + select.value);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_type");
    if (!select) return;
    show(select);
    select.addEventListener("change", function () { show(select); });
  });
})();
