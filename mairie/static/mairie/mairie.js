/* Progressive enhancements only: every page works without this file. */
(function () {
  "use strict";
  // Drag and drop on the upload zone: dropped files go into the ordinary file input.
  document.querySelectorAll("[data-dropzone]").forEach(function (zone) {
    var input = zone.querySelector("input[type=file]");
    var list = zone.querySelector("[data-file-list]");
    if (!input) { return; }
    function show() {
      if (!list) { return; }
      var names = Array.prototype.map.call(input.files, function (f) { return f.name; });
      list.textContent = names.length ? names.length + " fichier(s) : " + names.join(", ") : "";
    }
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("dragover"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("dragover"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        show();
      }
    });
    input.addEventListener("change", show);
  });
  // The organisation switcher submits itself when JavaScript is available.
  document.querySelectorAll("[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
