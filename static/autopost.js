// Submits the SAML auto-POST form to the AWS sign-in endpoint as soon as the page loads.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("saml-autopost");
  if (form) form.submit();
});
