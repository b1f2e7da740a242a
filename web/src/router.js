// Hash routes ("#/bookings/abc?tab=x"): a static host (S3 behind CloudFront, the local web
// server) serves one index.html and needs no rewrite rules.
//
// A route: {pattern: "/bookings/:id", title, role?: "travelers" | "agents" | "vendors" | "signed-in",
//           render(view, {params, query, navigate}) -> cleanup function | undefined}
export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const [path, queryString = ""] = raw.split("?");
  return { path: path || "/", query: Object.fromEntries(new URLSearchParams(queryString)) };
}

export function match(routes, path) {
  const parts = path.split("/").filter(Boolean);
  for (const route of routes) {
    const pattern = route.pattern.split("/").filter(Boolean);
    if (pattern.length !== parts.length) continue;
    const params = {};
    let ok = true;
    pattern.forEach((segment, i) => {
      if (segment.startsWith(":")) {
        try {
          params[segment.slice(1)] = decodeURIComponent(parts[i]);
        } catch {
          ok = false; // a malformed %-escape names no page
        }
      } else if (segment !== parts[i]) {
        ok = false;
      }
    });
    if (ok) return { route, params };
  }
  return null;
}

// "#/search" + {kind: "hotel"} -> "#/search?kind=hotel"
export function link(path, query = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const qs = search.toString();
  return `#${path}${qs ? `?${qs}` : ""}`;
}

export function navigate(path, query = {}) {
  const target = link(path, query);
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = target;
}
