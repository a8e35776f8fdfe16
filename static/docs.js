// Starts Swagger UI on the API's own OpenAPI document (no inline script, for the CSP).
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: root.dataset.specUrl, domNode: root });
});
