// The app shell: header navigation by role, one <main> that each route renders into, the
// configuration (/config.json), and nothing left blank: a route that throws shows its error.
import { setApiBase } from "./api.js";
import { session } from "./session.js";
import { match, navigate, parseHash } from "./router.js";
import { errorBox, h, loading, mount } from "./ui.js";
import { config, loadConfig } from "./config.js";
import * as account from "./pages/account.js";
import * as traveler from "./traveler/index.js";
import * as agent from "./agent/index.js";
import * as vendor from "./vendor/index.js";
import * as admin from "./admin/index.js";

const areas = [account, traveler, agent, vendor, admin];
const routes = areas.flatMap((area) => area.routes);
const view = document.getElementById("view");
const nav = document.getElementById("nav");
let cleanup = null;
let renderSeq = 0;

function allowed(role) {
  if (!role) return true;
  if (!session.signedIn()) return false;
  if (role === "signed-in") return true;
  return session.hasRole(role);
}

function renderNav() {
  const links = [];
  for (const area of areas) {
    for (const item of area.nav || []) {
      if (item.role && !allowed(item.role)) continue;
      if (item.anonymousOnly && session.signedIn()) continue;
      links.push(h("li", {}, h("a", { href: item.href }, item.label)));
    }
  }
  links.push(h("li", {}, h("a", { href: "/docs/" }, "API docs")));
  const profile = session.profile();
  const who = profile
    ? h("li", { class: "who" },
      h("span", {}, profile.name || profile.email),
      h("button", { type: "button", class: "link", onclick: () => { session.signOut(); navigate("/signin"); } }, "Sign out"))
    : h("li", {}, h("a", { href: "#/signin" }, "Sign in"));
  mount(nav, h("ul", {}, links, who));
  markCurrent();
}

// The nav link for this page: the longest one the path starts with ("#/agent/cases/x" marks
// "Cases", not also "Desk" at "#/agent").
function markCurrent() {
  const { path } = parseHash();
  let best = null;
  let bestLength = -1;
  for (const anchor of nav.querySelectorAll("a[href^='#']")) {
    anchor.removeAttribute("aria-current");
    const target = anchor.getAttribute("href").slice(1).split("?")[0];
    const matches = target === path || (target !== "/" && path.startsWith(`${target}/`));
    if (matches && target.length > bestLength) {
      best = anchor;
      bestLength = target.length;
    }
  }
  if (best) best.setAttribute("aria-current", "page");
}

async function render() {
  const seq = ++renderSeq;
  if (cleanup) {
    try { cleanup(); } catch { /* a page's cleanup never blocks the next page */ }
    cleanup = null;
  }
  const { path, query } = parseHash();
  const found = match(routes, path);
  markCurrent();
  if (!found) {
    mount(view, h("h1", { tabindex: "-1" }, "Page not found"),
      h("p", {}, "There is no page at this address. ", h("a", { href: "#/" }, "Go to the start page.")));
    focusHeading();
    return;
  }
  const { route, params } = found;
  document.title = `${route.title || "Itinera"} · Itinera`;
  if (route.role && session.signedIn() && !session.profile()) {
    // Signed in, but who the user is could not be read (the API was down at start): try again
    // rather than claim the page is forbidden.
    try {
      await session.loadProfile();
    } catch (err) {
      if (seq !== renderSeq) return;
      mount(view, h("h1", { tabindex: "-1" }, route.title || "Itinera"), errorBox(err),
        h("button", { type: "button", class: "primary", onclick: () => render() }, "Try again"));
      focusHeading();
      return;
    }
    if (seq !== renderSeq) return;
  }
  if (!allowed(route.role)) {
    if (!session.signedIn()) {
      navigate("/signin", { next: location.hash.slice(1) });
    } else {
      mount(view, h("h1", { tabindex: "-1" }, route.title || "Not allowed"),
        errorBox({ code: "FORBIDDEN", message: "Your account cannot open this page. Sign in with another account." }));
      focusHeading();
    }
    return;
  }
  mount(view, loading());
  try {
    const result = await route.render(view, { params, query, navigate });
    if (seq === renderSeq) cleanup = typeof result === "function" ? result : null;
    else if (typeof result === "function") result(); // the user moved on while it loaded
  } catch (err) {
    if (seq !== renderSeq) return;
    mount(view, h("h1", { tabindex: "-1" }, route.title || "Error"), errorBox(err));
  }
  if (seq === renderSeq) focusHeading();
}

// Keyboard and screen-reader users land on the new page's heading, not at the top of the nav.
function focusHeading() {
  const heading = view.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
}

// The skip link must not change the hash (that is the router's): it moves focus instead.
document.querySelector("a.skip")?.addEventListener("click", (event) => {
  event.preventDefault();
  view.focus();
});

async function start() {
  try {
    await loadConfig();
    setApiBase(config.api);
  } catch (err) {
    mount(view, h("h1", {}, "Itinera cannot start"), errorBox(err));
    return;
  }
  session.onChange(renderNav);
  renderNav();
  window.addEventListener("hashchange", render);
  try {
    await session.loadProfile();
  } catch {
    // The API is unreachable: public pages show their own errors, and a page that needs the
    // user's role reads the profile again (render) and offers to try again.
  }
  await render();
}

start();
