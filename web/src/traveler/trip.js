// The trip (the cart): items kept in localStorage until they are held together with one
// POST /holds (all or nothing). A retry after a network error sends the same Idempotency-Key
// (same request = same key); a changed trip gets a new key.
import { api, newIdempotencyKey } from "../api.js";
import { session } from "../session.js";
import { link } from "../router.js";
import { busy, field, formatDate, formValues, h, money, mount, notice } from "../ui.js";

const KEY = "itinera.trip";
const PENDING = "itinera.trip.pending"; // {body, key} of a hold whose answer never arrived

export function tripItems() {
  try {
    const items = JSON.parse(localStorage.getItem(KEY));
    return Array.isArray(items) ? items : [];
  } catch {
    return [];
  }
}

function saveItems(items) {
  localStorage.setItem(KEY, JSON.stringify(items));
}

// item: {listing_id, title, kind, quantity, date | check_in+check_out, price_total}
export function addToTrip(item) {
  const clean = {
    listing_id: item.listing_id, title: item.title, kind: item.kind, quantity: Number(item.quantity) || 1,
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

// The same body as a pending (unanswered) attempt reuses its key; anything else gets a new one.
function keyFor(bodyText) {
  try {
    const pending = JSON.parse(localStorage.getItem(PENDING));
    if (pending && pending.body === bodyText && pending.key) return pending.key;
  } catch { /* a new key */ }
  const key = newIdempotencyKey();
  localStorage.setItem(PENDING, JSON.stringify({ body: bodyText, key }));
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

function render(view, { navigate }) {
  const items = tripItems();
  const heading = h("h1", {}, "Your trip");
  if (!items.length) {
    mount(view, heading, h("p", { class: "empty" }, "Your trip is empty. ",
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
    h("td", { class: "price" }, money(item.price_total)),
    h("td", {}, h("button", {
      type: "button", class: "danger", "aria-label": `Remove ${item.title}`,
      onclick: () => { removeFromTrip(index); render(view, { navigate }); },
    }, "Remove"))));
  const sums = totals(items);
  const table = h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "muted", style: { textAlign: "left" } }, `${items.length} item${items.length === 1 ? "" : "s"}`),
    h("thead", {}, h("tr", {}, ["Item", "Kind", "When", "Quantity", "Price", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows)));

  const profile = session.profile() || {};
  const form = h("form", { class: "card", novalidate: true },
    h("h2", { style: { marginTop: 0 } }, "Contact"),
    h("div", { class: "row" },
      field("Email", h("input", { name: "email", type: "email", autocomplete: "email", required: true, value: profile.email || "" })),
      field("Name", h("input", { name: "name", autocomplete: "name", required: true, value: profile.name || "" })),
      field("Phone (optional)", h("input", { name: "phone", type: "tel", autocomplete: "tel" }))),
    field("Promo code (optional)", h("input", { name: "promo_code", autocomplete: "off" })),
    h("p", { class: "muted" }, "Holding keeps every item of the trip for you, all or nothing, while you pay."),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Hold trip")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues(form);
    const contact = { email: values.email || "", name: values.name || "" };
    if (values.phone) contact.phone = values.phone;
    const body = holdBody(tripItems(), contact, values.promo_code);
    const bodyText = JSON.stringify(body);
    const key = keyFor(bodyText);
    busy(form.querySelector("button[type=submit]"), form, async () => {
      try {
        const booking = await api.post("/holds", body, { idempotencyKey: key });
        clearTrip();
        navigate(`/bookings/${encodeURIComponent(booking.booking_id)}`);
      } catch (err) {
        // Keep the key only when the answer may not have been the final one (network error, the
        // first request still running, a server error): the retry is then the same request.
        if (!(err.status === 0 || err.code === "REQUEST_IN_PROGRESS" || err.status >= 500)) {
          localStorage.removeItem(PENDING);
        }
        throw err;
      }
    });
  });

  mount(view, heading, table,
    sums.length ? h("p", {}, "Estimated total: ", sums.map((sum, i) => [i ? " + " : "", h("span", { class: "price" }, money(sum))]),
      h("span", { class: "muted" }, " (the hold states the amount to pay)")) : null,
    sums.length > 1 ? notice("A booking is paid in one currency: hold items of different currencies separately.", "warn") : null,
    form);
}

export const routes = [
  { pattern: "/trip", title: "Your trip", role: "travelers", render },
];
