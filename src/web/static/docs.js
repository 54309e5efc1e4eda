// Starts Swagger UI on /openapi.json (served by the same process; no request leaves the machine).
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    onComplete: () => document.body.setAttribute("data-rendered", "yes"),
  });
});
