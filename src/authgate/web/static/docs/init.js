// Starts Swagger UI on the document this server generates. Kept out of the page so that the page's
// Content-Security-Policy needs no inline script. validatorUrl: null, or Swagger UI would send the
// document to an outside validator.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("openapi.json", document.baseURI).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    displayRequestDuration: true,
  });
});
