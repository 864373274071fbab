// A sign-in link carries its code in the fragment (#code=...), which the browser never
// sends to a server, so no log can hold it. Put it in the form, wipe it from the address
// bar and history, and submit: opening the link signs the owner in.
(function () {
  "use strict";
  var match = /(?:^#|&)code=([A-Za-z0-9-]{1,40})/.exec(window.location.hash);
  if (!match) { return; }
  history.replaceState(null, "", window.location.pathname + window.location.search);
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("code-form");
    var input = document.getElementById("code");
    if (!form || !input || document.getElementById("signin-error")) { return; }
    input.value = match[1];
    form.submit();
  });
})();
