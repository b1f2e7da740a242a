// Search (GET /search): the state lives in the URL query (#/search?kind=hotel&city=PAR&...), so
// results are linkable and the back button returns to the previous search.
import { api } from "../api.js";
import { link } from "../router.js";
import { addDays, busy, field, formatDate, fromMinor, h, isoDay, loading, money, mount, select, showError, toMinor } from "../ui.js";
import { placeField, resolvePlace } from "./places.js";
import { addToTripButton } from "./trip.js";

const KINDS = [["hotel", "Hotel"], ["flight", "Flight"], ["event", "Event"], ["service", "Service"]];
// max_price is typed in major units of the chosen currency (the catalog sells in EUR and USD) and
// sent in its minor units, with that currency: the API then returns only listings priced in it
// (a bound in euros says nothing about a price in dollars).
const PRICE_CURRENCIES = [["EUR", "EUR (€)"], ["USD", "USD ($)"]];
const DEFAULT_CURRENCY = "EUR";

function priceCurrency(query) {
  return PRICE_CURRENCIES.some(([code]) => code === query.currency) ? query.currency : DEFAULT_CURRENCY;
}

// The typed max price in minor units, NaN when it is not an amount of that currency.
function maxPriceMinor(text, currency) {
  try {
    const minor = toMinor(String(text).trim(), currency);
    return Number.isSafeInteger(minor) && minor >= 0 ? minor : NaN;
  } catch {
    return NaN;
  }
}

function amountExample(currency) {
  try {
    return fromMinor(1250, currency);
  } catch {
    return "12.50";
  }
}

export function ratingText(rating) {
  if (!rating || !rating.count) return "No reviews yet";
  const average = typeof rating.average === "number" ? rating.average.toFixed(1) : rating.average;
  return `★ ${average} / 5 (${rating.count} review${rating.count === 1 ? "" : "s"})`;
}

export function whereText(item) {
  if (item.origin || item.destination) return `${item.origin || "?"} → ${item.destination || "?"}`;
  return item.city || "";
}

function whenText(item) {
  if (item.check_in) return `${formatDate(item.check_in)} → ${formatDate(item.check_out)}`;
  return formatDate(item.date);
}

// The query of a search as the API takes it, from the page's URL query.
function apiQuery(query) {
  const q = { kind: query.kind, quantity: query.quantity || 1, sort: query.sort || "price" };
  if (query.kind === "hotel") Object.assign(q, { city: query.city, check_in: query.check_in, check_out: query.check_out });
  else if (query.kind === "flight") Object.assign(q, { origin: query.origin, destination: query.destination, date: query.date });
  else Object.assign(q, { city: query.city, date: query.date });
  if (query.max_price) {
    const currency = priceCurrency(query);
    const minor = maxPriceMinor(query.max_price, currency);
    if (!Number.isNaN(minor)) Object.assign(q, { max_price: minor, currency });
  }
  return q;
}

function resultCard(item, query) {
  const carry = item.check_in
    ? { check_in: item.check_in, check_out: item.check_out, quantity: query.quantity || 1 }
    : { date: item.date, quantity: query.quantity || 1 };
  return h("li", { class: "card" },
    h("h2", { style: { margin: "0 0 0.3rem" } }, h("a", { href: link(`/listings/${item.listing_id}`, carry) }, item.title)),
    h("p", { style: { margin: "0 0 0.3rem" } },
      h("span", { class: "badge" }, item.kind), " ", whereText(item), " · ", whenText(item)),
    h("p", { style: { margin: "0 0 0.3rem" } },
      h("span", { class: "price" }, money(item.price_total)),
      h("span", { class: "muted" }, ` for ${carry.quantity} · ${item.available} available · ${ratingText(item.rating)}`)),
    h("div", { class: "actions", style: { margin: "0.3rem 0 0" } },
      h("a", { class: "button", href: link(`/listings/${item.listing_id}`, carry), "aria-label": `Details of ${item.title}` }, "Details and calendar"),
      addToTripButton(() => ({
        listing_id: item.listing_id, title: item.title, kind: item.kind, quantity: Number(carry.quantity),
        date: item.date, check_in: item.check_in, check_out: item.check_out, price_total: item.price_total,
      }))));
}

function searchForm(query, navigate) {
  const kind = query.kind || "hotel";
  const kindSelect = select("kind", KINDS, kind);
  const fields = h("div", { class: "row" });
  const maxInput = h("input", { name: "max_price", type: "text", inputmode: "decimal", autocomplete: "off", value: query.max_price || "" });
  const currencySelect = select("currency", PRICE_CURRENCIES, priceCurrency(query));
  const maxPrice = field("Max total price", maxInput, "For the whole quantity, e.g. 250");
  const maxError = h("p", { class: "error", id: `${maxInput.id}-error`, role: "alert", hidden: true, style: { margin: "0.2rem 0 0", padding: "0.3rem 0.6rem" } });
  maxPrice.append(maxError);
  const form = h("form", { class: "card", role: "search", "aria-label": "Search", novalidate: true },
    h("div", { class: "row" }, field("What", kindSelect)),
    fields,
    h("div", { class: "row" },
      field("Quantity", h("input", { name: "quantity", type: "number", min: "1", max: "10", value: query.quantity || "1", required: true }),
        "Rooms, seats, tickets or places"),
      maxPrice,
      field("Currency", currencySelect, "Of the max price: only listings priced in it are shown when a max price is set"),
      field("Sort by", select("sort", [["price", "Price, lowest first"], ["rating", "Rating, best first"]], query.sort || "price"))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Search")));

  function drawFields() {
    const k = kindSelect.value;
    const day = query.date || isoDay(14);
    const checkIn = query.check_in || isoDay(14);
    const checkOut = query.check_out || addDays(checkIn, 2);
    const kindOf = () => kindSelect.value;
    if (k === "hotel") {
      mount(fields,
        placeField("City", { name: "city", value: query.city || "", kind: kindOf }),
        field("Check-in", h("input", { name: "check_in", type: "date", value: checkIn, min: isoDay(0), required: true })),
        field("Check-out", h("input", { name: "check_out", type: "date", value: checkOut, min: isoDay(1), required: true })));
    } else if (k === "flight") {
      mount(fields,
        placeField("From", { name: "origin", value: query.origin || "", kind: kindOf }),
        placeField("To", { name: "destination", value: query.destination || "", kind: kindOf }),
        field("Date", h("input", { name: "date", type: "date", value: day, min: isoDay(0), required: true })));
    } else {
      mount(fields,
        placeField("City", { name: "city", value: query.city || "", kind: kindOf }),
        field("Date", h("input", { name: "date", type: "date", value: day, min: isoDay(0), required: true })));
    }
  }
  kindSelect.addEventListener("change", drawFields);
  drawFields();
  if (query.max_price) checkMaxPrice(); // a bad one in the address is shown, not silently dropped

  // A max price that is not an amount of the chosen currency ("12.5.0", "1e3", 3 decimals in
  // euros): a field error, nothing sent.
  function checkMaxPrice() {
    const text = maxInput.value.trim();
    const currency = currencySelect.value;
    const bad = text !== "" && Number.isNaN(maxPriceMinor(text, currency));
    maxError.hidden = !bad;
    maxError.textContent = bad ? `Enter an amount like ${amountExample(currency)}` : "";
    const described = (maxInput.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== maxError.id);
    if (bad) described.push(maxError.id);
    if (described.length) maxInput.setAttribute("aria-describedby", described.join(" "));
    else maxInput.removeAttribute("aria-describedby");
    if (bad) maxInput.setAttribute("aria-invalid", "true");
    else maxInput.removeAttribute("aria-invalid");
    return !bad;
  }
  maxInput.addEventListener("input", () => { if (!maxError.hidden) checkMaxPrice(); });
  currencySelect.addEventListener("change", () => { if (!maxError.hidden) checkMaxPrice(); });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!checkMaxPrice()) {
      maxInput.focus();
      return;
    }
    busy(form.querySelector("button[type=submit]"), form, async () => {
      const data = new FormData(form);
      const next = {};
      for (const [key, value] of data.entries()) {
        if (typeof value === "string" && value.trim() !== "") next[key] = value.trim();
      }
      if (!next.max_price) delete next.currency; // the currency only says what the max price is in
      for (const name of ["city", "origin", "destination"]) {
        if (next[name]) next[name] = await resolvePlace(next[name], next.kind);
      }
      navigate("/search", next);
    });
  });
  return form;
}

function ready(query) {
  if (!query.kind) return false;
  if (query.kind === "hotel") return query.city && query.check_in && query.check_out;
  if (query.kind === "flight") return query.origin && query.destination && query.date;
  return query.city && query.date;
}

function render(view, { query, navigate }) {
  const results = h("section", { "aria-labelledby": "results-heading" });
  mount(view, h("h1", {}, "Search"), searchForm(query, navigate), results);
  if (!ready(query)) {
    if (query.kind) mount(results, h("p", { class: "muted" }, "Fill in where and when, then search."));
    return undefined;
  }
  let stopped = false;
  const list = h("ul", { style: { listStyle: "none", padding: "0", margin: "0" } });
  const more = h("button", { type: "button", class: "secondary" }, "Load more");
  const count = h("p", { class: "muted", role: "status", "aria-live": "polite" });
  const sortButtons = h("div", { class: "actions", role: "group", "aria-label": "Sort results" },
    h("span", { class: "muted", style: { alignSelf: "center" } }, "Sort by:"),
    [["price", "Price"], ["rating", "Rating"]].map(([value, text]) => h("a", {
      class: `button${(query.sort || "price") === value ? " primary" : ""}`,
      href: link("/search", { ...query, sort: value }),
      "aria-current": (query.sort || "price") === value ? "true" : undefined,
    }, text)));
  mount(results, h("h2", { id: "results-heading" }, "Results"), sortButtons, count, loading("Searching…"), list);
  let cursor = null;
  let shown = 0;

  async function page() {
    const answer = await api.get("/search", { ...apiQuery(query), cursor: cursor || undefined, limit: Math.min(100, Number(query.limit) || 10) });
    if (stopped) return;
    results.querySelector(".loading")?.remove();
    for (const item of answer.results || []) list.append(resultCard(item, query));
    shown += (answer.results || []).length;
    cursor = answer.next_cursor;
    count.textContent = shown ? `${shown} result${shown === 1 ? "" : "s"}${cursor ? " so far" : ""}` : "";
    if (!shown) list.replaceChildren(h("li", { class: "empty" }, "Nothing is available for this search. Try other dates or places."));
    if (cursor) results.append(more);
    else more.remove();
  }
  more.addEventListener("click", () => busy(more, results, page));
  page().catch((err) => {
    if (stopped) return;
    results.querySelector(".loading")?.remove();
    showError(results, err);
  });
  return () => { stopped = true; };
}

export const routes = [{ pattern: "/search", title: "Search", render }];
