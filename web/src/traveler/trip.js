// The trip (the cart): items kept in localStorage until they are held together with one
// POST /holds (all or nothing). A retry after a network error sends the same Idempotency-Key
// (same request = same key) for as long as a hold lasts (15 minutes); a changed trip, or a
// retry later than that, gets a new key.
import { api, newIdempotencyKey } from "../api.js";
import { session } from "../session.js";
import { link } from "../router.js";
import { busy, field, formatDate, formValues, h, money, mount, notice } from "../ui.js";

const KEY = "itinera.trip";
const PENDING = "itinera.trip.pending"; // {body, key, at} of a hold whose answer never arrived
const PENDING_MS = 15 * 60 * 1000; // a hold's lifetime: an older key would replay an old booking
const KINDS = new Set(["hotel", "flight", "event", "service"]);

function isDay(value) {
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const [y, m, d] = value.split("-").map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

function validPrice(price) {
  if (!price || typeof price !== "object" || !Number.isSafeInteger(price.amount) || price.amount < 0) return false;
  if (typeof price.currency !== "string" || !/^[A-Z]{3}$/.test(price.currency)) return false;
  try {
    new Intl.NumberFormat("en", { style: "currency", currency: price.currency }); // eslint-disable-line no-new
    return true;
  } catch {
    return false;
  }
}

// One stored item as the page can use it, or null when it cannot be read (an older version of
// the app, an edit by hand, another tab's bug): such items are dropped, never shown half-broken.
function cleanItem(item) {
  if (!item || typeof item !== "object" || Array.isArray(item)) return null;
  if (typeof item.listing_id !== "string" || !/^[A-Za-z0-9_-]{1,100}$/.test(item.listing_id)) return null;
  if (!KINDS.has(item.kind)) return null;
  if (!Number.isSafeInteger(item.quantity) || item.quantity < 1 || item.quantity > 100) return null;
  const clean = {
    listing_id: item.listing_id, kind: item.kind, quantity: item.quantity,
    title: typeof item.title === "string" && item.title.trim() ? item.title : item.listing_id,
    price_total: validPrice(item.price_total) ? { amount: item.price_total.amount, currency: item.price_total.currency } : null,
  };
  if (item.kind === "hotel") {
    if (!isDay(item.check_in) || !isDay(item.check_out) || item.check_out <= item.check_in) return null;
    clean.check_in = item.check_in;
    clean.check_out = item.check_out;
  } else {
    if (!isDay(item.date)) return null;
    clean.date = item.date;
  }
  return clean;
}

// The stored trip: {items (the valid ones), dropped (how many could not be read)}.
function readTrip() {
  let stored;
  try {
    stored = JSON.parse(localStorage.getItem(KEY));
  } catch {
    return { items: [], dropped: 1 };
  }
  if (stored === null || stored === undefined) return { items: [], dropped: 0 };
  if (!Array.isArray(stored)) return { items: [], dropped: 1 };
  const items = stored.map(cleanItem).filter(Boolean);
  return { items, dropped: stored.length - items.length };
}

export function tripItems() {
  return readTrip().items;
}

function saveItems(items) {
  localStorage.setItem(KEY, JSON.stringify(items));
}

// item: {listing_id, title, kind, quantity, date | check_in+check_out, price_total}
export function addToTrip(item) {
  const clean = {
    listing_id: item.listing_id, title: item.title, kind: item.kind, quantity: Math.trunc(Number(item.quantity)) || 1,
    price_total: item.price_total || null,
  };
  if (item.kind === "hotel") {
    clean.check_in = item.check_in;
    clean.check_out = item.check_out;
  } else {
    clean.date = item.date;
  }
  const items = tripItems().filter((existing) => !sameItem(existing, clean));
  items.push(clean);
  saveItems(items);
  return items;
}

function sameItem(a, b) {
  return a.listing_id === b.listing_id && a.date === b.date && a.check_in === b.check_in && a.check_out === b.check_out;
}

export function removeFromTrip(index) {
  const items = tripItems();
  items.splice(index, 1);
  saveItems(items);
  return items;
}

export function clearTrip() {
  localStorage.removeItem(KEY);
  localStorage.removeItem(PENDING);
}

export function whenText(item) {
  if (item.check_in) return `${formatDate(item.check_in)} → ${formatDate(item.check_out)}`;
  return formatDate(item.date);
}

// "Add to trip" for a search result or the listing page: a button and its confirmation.
export function addToTripButton(itemOf, { label = "Add to trip", disabled = false } = {}) {
  const status = h("span", { role: "status", "aria-live": "polite", class: "muted" });
  const button = h("button", { type: "button", class: "secondary", disabled }, label);
  button.addEventListener("click", () => {
    const item = itemOf();
    if (!item) return;
    const items = addToTrip(item);
    mount(status, ` Added. Your trip has ${items.length} item${items.length === 1 ? "" : "s"}: `,
      h("a", { href: "#/trip" }, "view your trip"));
  });
  return h("span", { class: "add-to-trip" }, button, status);
}

function holdBody(items, contact, promo) {
  const body = {
    items: items.map((item) => (item.check_in
      ? { listing_id: item.listing_id, quantity: item.quantity, check_in: item.check_in, check_out: item.check_out }
      : { listing_id: item.listing_id, quantity: item.quantity, date: item.date })),
    contact,
  };
  if (promo) body.promo_code = promo;
  return body;
}

// The same body as a pending (unanswered) attempt of the last 15 minutes reuses its key; anything
// else gets a new one.
function keyFor(bodyText) {
  try {
    const pending = JSON.parse(localStorage.getItem(PENDING));
    const age = pending ? Date.now() - Number(pending.at) : Infinity;
    if (pending && pending.body === bodyText && pending.key && age >= 0 && age < PENDING_MS) return pending.key;
  } catch { /* a new key */ }
  const key = newIdempotencyKey();
  localStorage.setItem(PENDING, JSON.stringify({ body: bodyText, key, at: Date.now() }));
  return key;
}

function totals(items) {
  const sums = {};
  for (const item of items) {
    if (!item.price_total) continue;
    const c = item.price_total.currency;
    sums[c] = (sums[c] || 0) + item.price_total.amount;
  }
  return Object.entries(sums).map(([currency, amount]) => ({ amount, currency }));
}

// money() of a stored price; a price it cannot format shows as "—" rather than breaking the page.
function priceText(price) {
  try {
    return money(price);
  } catch {
    return "—";
  }
}

function render(view, { navigate }, message = null) {
  const { items, dropped } = readTrip();
  if (dropped) {
    if (items.length) saveItems(items);
    else localStorage.removeItem(KEY);
  }
  const heading = h("h1", {}, "Your trip");
  const repaired = dropped
    ? notice(items.length
      ? `${dropped} item${dropped === 1 ? "" : "s"} of your trip could not be read and ${dropped === 1 ? "was" : "were"} removed.`
      : "Your saved trip could not be read and was cleared.", "warn")
    : null;
  if (!items.length) {
    mount(view, heading, repaired, message ? notice(message) : null, h("p", { class: "empty" }, "Your trip is empty. ",
      h("a", { href: "#/search" }, "Search flights, hotels, events and services"), " and add them here."));
    return;
  }
  const rows = items.map((item, index) => h("tr", {},
    h("td", {}, h("a", { href: link(`/listings/${item.listing_id}`, item.check_in
      ? { check_in: item.check_in, check_out: item.check_out, quantity: item.quantity }
      : { date: item.date, quantity: item.quantity }) }, item.title)),
    h("td", {}, item.kind),
    h("td", {}, whenText(item)),
    h("td", {}, String(item.quantity)),
    h("td", { class: "price" }, priceText(item.price_total)),
    h("td", {}, h("button", {
      type: "button", class: "danger", "aria-label": `Remove ${item.title}`,
      onclick: () => { removeFromTrip(index); render(view, { navigate }); },
    }, "Remove"))));
  const sums = totals(items);
  const table = h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "muted", style: { textAlign: "left" } }, `${items.length} item${items.length === 1 ? "" : "s"}`),
    h("thead", {}, h("tr", {}, ["Item", "Kind", "When", "Quantity", "Price", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows)));
  const clear = h("button", { type: "button", class: "secondary" }, "Clear trip");
  clear.addEventListener("click", () => {
    clearTrip();
    render(view, { navigate }, "Your trip was cleared.");
  });

  const profile = session.profile() || {};
  const outcome = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", novalidate: true },
    h("h2", { style: { marginTop: 0 } }, "Contact"),
    h("div", { class: "row" },
      field("Email", h("input", { name: "email", type: "email", autocomplete: "email", required: true, value: profile.email || "" })),
      field("Name", h("input", { name: "name", autocomplete: "name", required: true, value: profile.name || "" })),
      field("Phone (optional)", h("input", { name: "phone", type: "tel", autocomplete: "tel" }))),
    field("Promo code (optional)", h("input", { name: "promo_code", autocomplete: "off" })),
    h("p", { class: "muted" }, "Holding keeps every item of the trip for you, all or nothing, while you pay."),
    outcome,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Hold trip")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues(form);
    const contact = { email: values.email || "", name: values.name || "" };
    if (values.phone) contact.phone = values.phone;
    const body = holdBody(tripItems(), contact, values.promo_code);
    const bodyText = JSON.stringify(body);
    const key = keyFor(bodyText);
    outcome.replaceChildren();
    busy(form.querySelector("button[type=submit]"), form, async () => {
      let booking;
      try {
        booking = await api.post("/holds", body, { idempotencyKey: key });
      } catch (err) {
        // Keep the key only when the answer may not have been the final one (network error, the
        // first request still running, a server error): the retry is then the same request.
        if (!(err.status === 0 || err.code === "REQUEST_IN_PROGRESS" || err.status >= 500)) {
          localStorage.removeItem(PENDING);
        }
        throw err;
      }
      localStorage.removeItem(PENDING);
      if (booking && booking.status !== "HELD") {
        // The API answered an earlier attempt of this same trip again (its answer had been lost),
        // and that hold is over: the trip stays, and holding it again makes a new hold.
        outcome.replaceChildren(h("div", { class: "notice warn", role: "alert" },
          `This trip was already held earlier as booking ${booking.reference || booking.booking_id}, which is now `,
          h("strong", {}, String(booking.status)), ". Your trip is kept: press Hold trip again for a new hold. ",
          h("a", { href: link(`/bookings/${encodeURIComponent(booking.booking_id)}`) }, "See that booking")));
        return;
      }
      clearTrip();
      navigate(`/bookings/${encodeURIComponent(booking.booking_id)}`);
    });
  });

  mount(view, heading, repaired, message ? notice(message) : null, table,
    h("div", { class: "actions" }, clear),
    sums.length ? h("p", {}, "Estimated total: ", sums.map((sum, i) => [i ? " + " : "", h("span", { class: "price" }, priceText(sum))]),
      h("span", { class: "muted" }, " (the hold states the amount to pay)")) : null,
    sums.length > 1 ? notice("A booking is paid in one currency: hold items of different currencies separately.", "warn") : null,
    form);
}

export const routes = [
  { pattern: "/trip", title: "Your trip", role: "travelers", render },
];
