// A listing (GET /listings/{id}) with its availability calendar (GET .../availability, one month
// at a time), the choice of dates and quantity, "Add to trip", and the waitlist when the chosen
// dates are not available.
import { api } from "../api.js";
import { link } from "../router.js";
import { addDays, errorBox, field, formatDate, h, isoDay, loading, money, mount, notice } from "../ui.js";
import { reviewsSection } from "./reviews.js";
import { waitlistJoinForm } from "./waitlist.js";
import { ratingText, whereText } from "./search.js";
import { addToTripButton } from "./trip.js";

const STARTS = { flight: "departure", hotel: "check-in", event: "the event", service: "the service" };

export function policyText(policy, kind) {
  if (!policy) return "No cancellation policy given.";
  const start = STARTS[kind] || "the first date";
  const percent = Number(policy.refund_percent_after) || 0;
  const hours = Number(policy.free_until_hours) || 0;
  if (!hours) {
    if (percent >= 100) return "Fully refundable whenever you cancel.";
    return percent > 0 ? `${percent}% of the price is refunded whenever you cancel.` : "Not refundable.";
  }
  const span = hours % 24 === 0 ? `${hours / 24} day${hours === 24 ? "" : "s"}` : `${hours} hours`;
  const after = percent >= 100 ? "after that, still fully refunded."
    : percent > 0 ? `after that, ${percent}% of the price is refunded.` : "after that, nothing is refunded.";
  return `Free cancellation until ${span} before ${start}; ${after}`;
}

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

function monthOf(isoDate) {
  return isoDate.slice(0, 7);
}

function monthBounds(month) {
  const [y, m] = month.split("-").map(Number);
  const first = `${month}-01`;
  const last = new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
  return { first, last };
}

function shiftMonth(month, delta) {
  const [y, m] = month.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1 + delta, 1)).toISOString().slice(0, 7);
}

function monthName(month) {
  const [y, m] = month.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, 1)).toLocaleDateString(undefined, { timeZone: "UTC", month: "long", year: "numeric" });
}

function weekdayIndex(isoDate) { // Monday = 0
  const [y, m, d] = isoDate.split("-").map(Number);
  return (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7;
}

function nightsOf(checkIn, checkOut) {
  const nights = [];
  for (let day = checkIn; day < checkOut && nights.length < 366; day = addDays(day, 1)) nights.push(day);
  return nights;
}

async function render(view, { params, query }) {
  const listing = await api.get(`/listings/${encodeURIComponent(params.id)}`);
  const hotel = listing.kind === "hotel";
  document.title = `${listing.title} · Itinera`;
  const state = {
    date: query.date || "",
    check_in: query.check_in || "",
    check_out: query.check_out || "",
    quantity: Math.max(1, Number(query.quantity) || 1),
    picking: false, // hotels: the next calendar click sets check-out
  };
  if (hotel && state.check_in && !state.check_out) state.check_out = addDays(state.check_in, 1);
  let month = monthOf(query.month ? `${query.month}-01` : (state.date || state.check_in || isoDay(0)));
  let stopped = false;
  let quoteSeq = 0;

  const attributes = Object.entries(listing.attributes || {}).filter(([, v]) => v !== null && typeof v !== "object");
  const details = h("section", { class: "card" },
    h("p", { style: { marginTop: 0 } }, h("span", { class: "badge" }, listing.kind), " ", whereText(listing),
      " · ", h("span", {}, ratingText(listing.rating))),
    listing.description ? h("p", {}, listing.description) : null,
    attributes.length ? h("ul", { class: "muted" }, attributes.map(([k, v]) => h("li", {}, `${k.replace(/_/g, " ")}: ${v === true ? "yes" : v === false ? "no" : v}`))) : null,
    h("p", {}, h("strong", {}, "Cancellation policy: "), policyText(listing.cancellation_policy, listing.kind)));

  // The choice: date (or check-in/check-out) and quantity.
  const quantityInput = h("input", { name: "quantity", type: "number", min: "1", max: "10", value: String(state.quantity) });
  const dateInputs = hotel
    ? {
      check_in: h("input", { name: "check_in", type: "date", value: state.check_in, min: isoDay(0) }),
      check_out: h("input", { name: "check_out", type: "date", value: state.check_out, min: isoDay(1) }),
    }
    : { date: h("input", { name: "date", type: "date", value: state.date, min: isoDay(0) }) };
  const quote = h("div", { "aria-live": "polite" });
  const choice = h("section", { class: "card", "aria-labelledby": "choice-heading" },
    h("h2", { id: "choice-heading", style: { marginTop: 0 } }, "Your choice"),
    h("div", { class: "row" },
      hotel ? [field("Check-in", dateInputs.check_in), field("Check-out", dateInputs.check_out)] : field("Date", dateInputs.date),
      field("Quantity", quantityInput, hotel ? "Rooms" : listing.kind === "flight" ? "Seats" : "Tickets or places")),
    quote);

  const monthHeading = h("h3", { id: "month-heading", "aria-live": "polite", style: { margin: 0, flex: "1 1 auto", textAlign: "center" } });
  const grid = h("div", { class: "calendar", role: "group", "aria-labelledby": "month-heading" });
  const calendarError = h("div");
  const calendar = h("section", { class: "card", "aria-labelledby": "calendar-heading" },
    h("h2", { id: "calendar-heading", style: { marginTop: 0 } }, "Availability"),
    h("div", { class: "row", style: { alignItems: "center", marginBottom: "0.5rem" } },
      h("button", { type: "button", onclick: () => { month = shiftMonth(month, -1); drawCalendar(); } }, "← Previous month"),
      monthHeading,
      h("button", { type: "button", onclick: () => { month = shiftMonth(month, 1); drawCalendar(); } }, "Next month →")),
    calendarError, grid,
    h("p", { class: "muted" }, hotel ? "Pick the check-in day, then the check-out day." : "Pick a day."));

  let days = {};

  function selected(day) {
    if (hotel) return state.check_in && state.check_out && day >= state.check_in && day < state.check_out;
    return day === state.date;
  }

  function drawGrid() {
    const { first, last } = monthBounds(month);
    // The shared styles give phones a 4-column calendar: weeks do not line up there, so each
    // day names its weekday instead of a header row.
    const weekRows = !window.matchMedia("(max-width: 40rem)").matches;
    const cells = weekRows ? WEEKDAYS.map((name) => h("div", { class: "muted", "aria-hidden": "true", style: { fontSize: "0.8rem", textAlign: "center" } }, name)) : [];
    if (weekRows) for (let i = 0; i < weekdayIndex(first); i += 1) cells.push(h("div", { "aria-hidden": "true" }));
    for (let day = first; day <= last; day = addDays(day, 1)) {
      const info = days[day];
      const number = weekRows ? String(Number(day.slice(8))) : `${WEEKDAYS[weekdayIndex(day)]} ${Number(day.slice(8))}`;
      if (!info) {
        cells.push(h("div", { class: "day none", title: "Not on sale" }, h("span", { "aria-hidden": "true" }, number), h("span", { class: "visually-hidden", style: { position: "absolute", left: "-9999px" } }, `${formatDate(day)}: not on sale`)));
        continue;
      }
      const soldOut = info.available <= 0;
      const on = selected(day);
      cells.push(h("button", {
        type: "button", class: `day${soldOut ? " none sold-out" : ""}`, dataset: { date: day },
        "aria-pressed": on ? "true" : "false",
        "aria-label": `${formatDate(day)}: ${money(info.price)}, ${soldOut ? "sold out" : `${info.available} available`}`,
        style: {
          display: "flex", flexDirection: "column", alignItems: "flex-start", width: "100%", textAlign: "left",
          color: soldOut ? "#6b7280" : "#1b1f24", background: on ? "#dbe9f7" : soldOut ? "#f3f6f9" : "#fff",
          borderColor: on ? "#0b5394" : "#c9d1db", borderWidth: on ? "2px" : "1px",
          textDecoration: soldOut ? "line-through" : "none",
        },
        onclick: () => pick(day),
      },
      h("strong", {}, number),
      h("span", {}, money(info.price)),
      h("span", { class: "muted", style: { fontSize: "0.75rem" } }, soldOut ? "Sold out" : `${info.available} left`)));
    }
    grid.replaceChildren(...cells);
  }

  async function drawCalendar() {
    monthHeading.textContent = monthName(month);
    const { first, last } = monthBounds(month);
    const wanted = month;
    grid.replaceChildren(loading("Loading availability…"));
    calendarError.replaceChildren();
    try {
      const answer = await api.get(`/listings/${encodeURIComponent(listing.listing_id)}/availability`, { from: first, to: last });
      if (stopped || wanted !== month) return;
      days = Object.fromEntries((answer.days || []).map((d) => [d.date, d]));
      drawGrid();
    } catch (err) {
      if (stopped || wanted !== month) return;
      grid.replaceChildren();
      calendarError.replaceChildren(errorBox(err));
    }
  }

  function pick(day) {
    if (hotel) {
      if (!state.picking || !state.check_in || day <= state.check_in) {
        state.check_in = day;
        state.check_out = addDays(day, 1);
        state.picking = true;
      } else {
        state.check_out = day;
        state.picking = false;
      }
      dateInputs.check_in.value = state.check_in;
      dateInputs.check_out.value = state.check_out;
    } else {
      state.date = day;
      dateInputs.date.value = day;
    }
    drawGrid();
    changed();
  }

  function readInputs() {
    state.quantity = Math.max(1, Number(quantityInput.value) || 1);
    if (hotel) {
      state.check_in = dateInputs.check_in.value;
      state.check_out = dateInputs.check_out.value;
    } else {
      state.date = dateInputs.date.value;
    }
  }

  // The URL follows the choice (without a re-render): the page stays linkable.
  function keepInUrl() {
    const q = hotel ? { check_in: state.check_in, check_out: state.check_out } : { date: state.date };
    history.replaceState(null, "", link(`/listings/${listing.listing_id}`, { ...q, quantity: state.quantity }));
  }

  async function changed() {
    const mine = ++quoteSeq;
    keepInUrl();
    const range = hotel ? (state.check_in && state.check_out ? nightsOf(state.check_in, state.check_out) : []) : (state.date ? [state.date] : []);
    if (!range.length) {
      mount(quote, h("p", { class: "muted" }, hotel
        ? (state.check_in && state.check_out ? "Check-out must be after check-in." : "Choose check-in and check-out.")
        : "Choose a date."));
      return;
    }
    mount(quote, loading("Checking availability…"));
    let answer;
    try {
      answer = await api.get(`/listings/${encodeURIComponent(listing.listing_id)}/availability`, { from: range[0], to: range[range.length - 1] });
    } catch (err) {
      if (mine === quoteSeq && !stopped) mount(quote, errorBox(err));
      return;
    }
    if (mine !== quoteSeq || stopped) return;
    const byDate = Object.fromEntries((answer.days || []).map((d) => [d.date, d]));
    const missing = range.filter((day) => !byDate[day]);
    const short = range.filter((day) => byDate[day] && byDate[day].available < state.quantity);
    const when = hotel ? `${formatDate(state.check_in)} → ${formatDate(state.check_out)}` : formatDate(state.date);
    if (missing.length || short.length) {
      const reason = missing.length
        ? `Not on sale on ${missing.map(formatDate).join(", ")}.`
        : `Not enough left on ${short.map((day) => `${formatDate(day)} (${byDate[day].available > 0 ? `${byDate[day].available} left` : "sold out"})`).join(", ")}.`;
      const joinDefaults = hotel
        ? { check_in: state.check_in, check_out: state.check_out, quantity: state.quantity }
        : { date: state.date, quantity: state.quantity };
      mount(quote,
        notice(`Not available for ${when} × ${state.quantity}. ${reason}`, "warn"),
        missing.length ? null : waitlistJoinForm(listing, joinDefaults));
      return;
    }
    const currency = byDate[range[0]].price.currency;
    const amount = range.reduce((sum, day) => sum + byDate[day].price.amount, 0) * state.quantity;
    const total = { amount, currency };
    const item = {
      listing_id: listing.listing_id, title: listing.title, kind: listing.kind, quantity: state.quantity,
      date: hotel ? undefined : state.date, check_in: hotel ? state.check_in : undefined,
      check_out: hotel ? state.check_out : undefined, price_total: total,
    };
    mount(quote,
      h("p", {}, h("span", { class: "price" }, money(total)),
        h("span", { class: "muted" }, ` for ${state.quantity} · ${when}${hotel ? ` · ${range.length} night${range.length === 1 ? "" : "s"}` : ""}`)),
      h("div", { class: "actions" }, addToTripButton(() => item)));
  }

  for (const input of [quantityInput, ...Object.values(dateInputs)]) {
    input.addEventListener("change", () => {
      readInputs();
      state.picking = false;
      if (hotel && state.check_in && monthOf(state.check_in) !== month) month = monthOf(state.check_in);
      else if (!hotel && state.date && monthOf(state.date) !== month) month = monthOf(state.date);
      drawCalendar();
      changed();
    });
  }

  mount(view,
    h("h1", {}, listing.title),
    h("p", {}, h("a", { href: "#/search" }, "← Search"), " · ", h("a", { href: "#/trip" }, "Your trip")),
    details, choice, calendar,
    reviewsSection(listing));
  drawCalendar();
  changed();
  return () => { stopped = true; };
}

export const routes = [{ pattern: "/listings/:id", title: "Listing", render }];
