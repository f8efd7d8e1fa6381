// Starts Swagger UI on the API docs page (templates/api/docs.html, config/api_docs.py): the schema
// URL and the CSRF header come from data- attributes of #swagger-ui, Swagger UI's settings from the
// JSON data blocks #swagger-settings and #swagger-oauth2-settings. A file rather than an inline
// script, so the page works under the Content-Security-Policy (no inline script allowed).
"use strict";

(() => {
  const root = document.getElementById("swagger-ui");
  const readJson = (id) => JSON.parse(document.getElementById(id)?.textContent || "{}");
  const { schemaUrl, csrfHeader, csrfToken } = root.dataset;

  // "Try it out" sends the session's CSRF token with every unsafe same-origin request, as a form would.
  const requestInterceptor = (request) => {
    if (!["GET", undefined].includes(request.method) && request.credentials === "same-origin") {
      request.headers[csrfHeader] = csrfToken;
    }
    return request;
  };

  const ui = SwaggerUIBundle({
    url: schemaUrl,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor,
    ...readJson("swagger-settings"),
  });
  const oauth2 = readJson("swagger-oauth2-settings");
  if (Object.keys(oauth2).length > 0) ui.initOAuth(oauth2);
  window.swaggerUi = ui;
})();
