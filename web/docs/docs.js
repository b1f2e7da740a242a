// /docs renders the API's own OpenAPI document (GET /openapi.json, through the same /api base
// as the app) with Swagger UI, served from this site: no CDN at run time.
(async function () {
  const target = document.getElementById("swagger-ui");
  let api = "/api";
  try {
    const response = await fetch("/config.json", { cache: "no-store" });
    if (response.ok) api = (await response.json()).api || api;
  } catch {
    /* the default base */
  }
  const specUrl = `${api.replace(/\/$/, "")}/openapi.json`;
  let spec;
  try {
    const response = await fetch(specUrl);
    if (!response.ok) throw new Error(`${specUrl} answered ${response.status}`);
    spec = await response.json();
  } catch (err) {
    target.replaceChildren();
    const box = document.createElement("p");
    box.setAttribute("role", "alert");
    box.className = "docs-error";
    box.textContent = `The OpenAPI document could not be loaded: ${err.message}`;
    target.append(box);
    return;
  }
  // "Try it out" sends requests to the API through this site's base.
  spec.servers = [{ url: api }];
  window.ui = SwaggerUIBundle({ spec, dom_id: "#swagger-ui", deepLinking: true, tryItOutEnabled: false });
})();
