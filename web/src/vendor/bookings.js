// #/vendor/bookings: bookings that include the vendor's listings (GET /vendor/bookings), filtered
// by first date and status; the filters live in the address so a filtered view can be shared.
import { api } from "../api.js";
import { field, formatInstant, formValues, h, money, mount, select, statusBadge } from "../ui.js";
import { itemDates, pagedTable } from "./common.js";

const STATUSES = ["HELD", "CONFIRMING", "CONFIRMED", "CANCELLING", "CANCELLED", "EXPIRED", "FAILED"];

function row(booking) {
  const items = booking.items || [];
  return h("tr", {},
    h("td", {}, h("strong", {}, booking.reference)),
    h("td", {}, statusBadge(booking.status)),
    h("td", {}, h("ul", { class: "list" }, items.map((item) => h("li", { style: { padding: "0", border: "none" } },
      `${item.title} × ${item.quantity}`)))),
    h("td", {}, h("ul", { class: "list" }, items.map((item) => h("li", { style: { padding: "0", border: "none" } }, itemDates(item))))),
    h("td", {}, money(booking.amount)),
    h("td", {}, booking.contact ? `${booking.contact.name} (${booking.contact.email})` : h("span", { class: "muted" }, "after payment")),
    h("td", {}, formatInstant(booking.created_at)));
}

export function bookingsPage(view, { query, navigate }) {
  const filters = h("form", { class: "card", "aria-label": "Filters" },
    h("div", { class: "row" },
      field("First date from", h("input", { name: "from", type: "date", value: query.from || "" })),
      field("First date to", h("input", { name: "to", type: "date", value: query.to || "" })),
      field("Status", select("status", [["", "Any status"], ...STATUSES.map((status) => [status, status])], query.status || "")),
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary" }, "Show bookings"),
        h("button", { type: "button", onclick: () => navigate("/vendor/bookings", {}) }, "Clear filters"))));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues(filters);
    navigate("/vendor/bookings", { from: values.from, to: values.to, status: values.status });
  });
  const table = pagedTable(["Reference", "Status", "Items", "Dates", "Amount", "Traveler", "Booked at"], async (cursor) => {
    const page = await api.get("/vendor/bookings", { from: query.from, to: query.to, status: query.status, cursor, limit: 20 });
    return { items: page.bookings || [], next_cursor: page.next_cursor };
  }, row, { empty: "No bookings match these filters.", label: "Bookings" });
  mount(view, h("h1", {}, "Bookings"),
    h("p", { class: "muted" }, "Bookings that include your listings; items and amounts are yours only."),
    filters, table);
}
