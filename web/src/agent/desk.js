// The support desk's search: one box that takes a booking reference or a traveler's email
// (GET /agent/bookings?reference=|email=). The query lives in the URL (#/agent?reference=X or
// #/agent?email=y), so a search can be reloaded, bookmarked and shared with a colleague.
import { api } from "../api.js";
import { link } from "../router.js";
import { field, formatDate, h, mount, money, pagedList, statusBadge } from "../ui.js";

// What the agent typed, as the API's query: an "@" makes it an email, anything else a reference
// (spaces and dashes people add when reading one over the phone are dropped).
export function searchQuery(text) {
  const value = String(text || "").trim();
  if (!value) return {};
  if (value.includes("@")) return { email: value };
  return { reference: value.replace(/[\s-]/g, "").toUpperCase() };
}

// The earliest date a booking is for (its first flight, night, event or service).
export function firstDate(booking) {
  const dates = (booking.items || []).map((item) => item.date || item.check_in).filter(Boolean).sort();
  return dates[0] || null;
}

function bookingRow(booking) {
  const first = firstDate(booking);
  return h("li", { class: "agent-result" },
    h("div", { class: "row", style: { alignItems: "center", gap: "0.5rem 1rem" } },
      h("a", { href: link(`/agent/bookings/${encodeURIComponent(booking.booking_id)}`), style: { fontWeight: "700" } },
        booking.reference),
      statusBadge(booking.status),
      h("span", {}, (booking.contact && booking.contact.email) || ""),
      h("span", { class: "price" }, money(booking.amount)),
      h("span", { class: "muted" }, first ? `from ${formatDate(first)}` : "no dates")));
}

function render(view, { query, navigate }) {
  const current = query.reference || query.email || "";
  const input = h("input", {
    name: "q", type: "search", value: current, autocomplete: "off", spellcheck: false, required: true,
  });
  const kind = h("p", { class: "muted", "aria-live": "polite", style: { margin: "0" } });
  const tell = () => {
    const next = searchQuery(input.value);
    kind.textContent = next.email ? `Searching by traveler email: ${next.email}`
      : next.reference ? `Searching by booking reference: ${next.reference}` : "";
  };
  input.addEventListener("input", tell);
  tell();
  const form = h("form", { class: "card", role: "search", novalidate: true },
    h("div", { class: "row" },
      field("Booking reference or traveler email", input,
        "A 6-character reference like 34KU64, or the email the traveler booked with."),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Find bookings"))),
    kind);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = searchQuery(input.value);
    if (!next.reference && !next.email) {
      input.focus();
      return;
    }
    navigate("/agent", next);
  });

  const results = h("section", { "aria-labelledby": "agent-results" });
  mount(view, h("h1", {}, "Support desk"), form, results);

  const search = query.email ? { email: query.email } : query.reference ? { reference: query.reference } : null;
  if (!search) {
    results.append(h("p", { class: "muted" }, "Find a booking to see its payments, audit and actions. ",
      h("a", { href: link("/agent/cases") }, "Open the support cases queue.")));
    return;
  }
  results.append(
    h("h2", { id: "agent-results" }, search.email ? `Bookings of ${search.email}` : `Booking reference ${search.reference}`),
    pagedList(async (cursor) => {
      const page = await api.get("/agent/bookings", { ...search, cursor, limit: 20 });
      return { items: page.bookings || [], next_cursor: page.next_cursor };
    }, bookingRow, { empty: search.email ? "No bookings with this email." : "No booking with this reference." }));
}

export const routes = [{ pattern: "/agent", title: "Support desk", role: "agents", render }];
