// The traveler's bookings (GET /me/bookings), newest first, filtered by status (in the URL).
import { api } from "../api.js";
import { link } from "../router.js";
import { field, formatInstant, h, money, mount, pagedList, select, statusBadge } from "../ui.js";
import { whenText } from "./trip.js";

const STATUSES = ["HELD", "CONFIRMING", "CONFIRMED", "CANCELLING", "CANCELLED", "EXPIRED", "FAILED"];

function bookingItem(booking) {
  const items = booking.items || [];
  return h("li", {},
    h("p", { style: { margin: "0 0 0.2rem" } },
      h("a", { href: link(`/bookings/${booking.booking_id}`) }, h("strong", {}, `Booking ${booking.reference || booking.booking_id}`)),
      " ", statusBadge(booking.status), " ", h("span", { class: "price" }, money(booking.amount))),
    h("ul", { class: "muted", style: { margin: "0 0 0.2rem", paddingLeft: "1.2rem" } },
      items.map((item) => h("li", {}, `${item.title} · ${whenText(item)} · × ${item.quantity}`))),
    h("small", { class: "muted" }, `Made ${formatInstant(booking.created_at)}`));
}

function render(view, { query, navigate }) {
  const status = STATUSES.includes(query.status) ? query.status : "";
  const filter = select("status", [["", "All"], ...STATUSES.map((s) => [s, s.charAt(0) + s.slice(1).toLowerCase()])], status);
  filter.addEventListener("change", () => navigate("/bookings", { status: filter.value }));
  mount(view,
    h("h1", {}, "My bookings"),
    h("div", { class: "row" }, field("Status", filter)),
    pagedList(async (cursor) => {
      const page = await api.get("/me/bookings", { status: status || undefined, cursor: cursor || undefined, limit: 20 });
      return { items: page.bookings || [], next_cursor: page.next_cursor };
    }, bookingItem, { empty: status ? `No ${status.toLowerCase()} bookings.` : "No bookings yet. Search for something to book." }));
}

export const routes = [{ pattern: "/bookings", title: "My bookings", role: "travelers", render }];
