// The periodic task form of django-celery-beat: shows the chosen crontab in
// words under the field (its own inline script, moved here for the CSP).
(function () {
  "use strict";
  var script = document.currentScript;
  var $ = window.django && window.django.jQuery;
  var data = document.getElementById("readable-crontabs");
  if (!$ || !data) return;
  var readable = JSON.parse(data.textContent);
  var originalHelp = script.getAttribute("data-crontab-help") || "";
  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    var help = document.querySelector(".field-crontab .help");
    if (!help) return;
    help.replaceChildren(document.createTextNode(originalHelp), document.createElement("br"),
      document.createTextNode("Translation: " + (readable[$("#id_crontab").val()] || "")));
  });
})();
