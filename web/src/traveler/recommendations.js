// Recommendations for the signed-in traveler (GET /me/recommendations) and the weekly picks
// email preference (GET/PUT /me/preferences).
import { api } from "../api.js";
import { link } from "../router.js";
import { busy, errorBox, formatDate, h, loading, money, mount, notice } from "../ui.js";
import { stars } from "./reviews.js";

const KINDS = { flight: "Flight", hotel: "Hotel", event: "Event", service: "Service" };
const REASONS = {
  also_booked: "Travelers who booked what you booked also booked this",
  your_places: "Sells where you are going",
  popular_in_searched: "Popular where you searched",
  popular: "Popular on Itinera",
};

function place(item) {
  if (item.origin || item.destination) return `${item.origin || "?"} → ${item.destination || "?"}`;
  return item.city || "";
}

function when(item) {
  if (item.check_in) return `${formatDate(item.check_in)} → ${formatDate(item.check_out)}`;
  return item.date ? formatDate(item.date) : "";
}

function card(item) {
  const query = {};
  if (item.date) query.date = item.date;
  if (item.check_in) Object.assign(query, { check_in: item.check_in, check_out: item.check_out });
  const rating = item.rating && item.rating.count
    ? h("p", {}, stars(item.rating.average), ` ${Number(item.rating.average).toFixed(1)} · ${item.rating.count} `,
      item.rating.count === 1 ? "review" : "reviews")
    : h("p", { class: "muted" }, "No reviews yet");
  let price = null;
  if (item.price) price = h("p", {}, h("span", { class: "price" }, money(item.price)), h("span", { class: "muted" }, " per unit"));
  else if (item.price_from) price = h("p", {}, h("span", { class: "muted" }, "from "), h("span", { class: "price" }, money(item.price_from)));
  return h("li", { class: "card recommendation" },
    h("h2", { style: { fontSize: "1.1rem", margin: "0 0 0.4rem" } },
      h("a", { href: link(`/listings/${encodeURIComponent(item.listing_id)}`, query) }, item.title)),
    h("p", {}, h("span", { class: "badge" }, KINDS[item.kind] || item.kind), " ", place(item),
      when(item) ? ` · ${when(item)}` : ""),
    price, rating,
    h("p", { class: "muted" }, REASONS[item.reason] || ""));
}

function preferencesBox() {
  const box = h("section", { class: "card", "aria-labelledby": "prefs-heading" },
    h("h2", { id: "prefs-heading", style: { marginTop: 0 } }, "Weekly picks by email"), loading());
  api.get("/me/preferences").then((prefs) => {
    const checkbox = h("input", { type: "checkbox", id: "weekly-picks", name: "recommendation_emails",
      checked: Boolean(prefs.recommendation_emails), style: { width: "auto", minHeight: "auto" } });
    const status = h("div", { "aria-live": "polite" });
    checkbox.addEventListener("change", () => {
      const wanted = checkbox.checked;
      status.replaceChildren();
      busy(checkbox, box, async () => {
        try {
          const saved = await api.put("/me/preferences", { recommendation_emails: wanted });
          checkbox.checked = Boolean(saved.recommendation_emails);
          status.replaceChildren(notice(saved.recommendation_emails
            ? "Saved: you will receive a weekly email of top picks."
            : "Saved: no weekly email."));
        } catch (err) {
          checkbox.checked = !wanted;
          throw err;
        }
      });
    });
    mount(box, h("h2", { id: "prefs-heading", style: { marginTop: 0 } }, "Weekly picks by email"),
      h("div", { style: { display: "flex", gap: "0.5rem", alignItems: "center" } },
        checkbox, h("label", { for: "weekly-picks" }, "Email me a weekly selection of top picks")),
      status);
  }).catch((err) => {
    mount(box, h("h2", { id: "prefs-heading", style: { marginTop: 0 } }, "Weekly picks by email"), errorBox(err));
  });
  return box;
}

async function forYouPage(view) {
  const results = h("div", {}, loading("Finding listings for you…"));
  mount(view, h("h1", {}, "For you"),
    h("p", {}, "Picked from your trips, from what travelers who booked the same listings also booked, and from what sells where you go."),
    results, preferencesBox());
  try {
    const data = await api.get("/me/recommendations", { limit: 12 });
    const items = data.recommendations || [];
    mount(results, items.length
      ? h("ul", { class: "grid", style: { listStyle: "none", padding: "0" }, "aria-label": "Recommendations" }, items.map(card))
      : h("p", { class: "empty" }, "Nothing to suggest yet: ", h("a", { href: "#/search" }, "search"),
        " or book a trip and picks will appear here."));
  } catch (err) {
    mount(results, errorBox(err));
  }
}

export const routes = [
  { pattern: "/for-you", title: "For you", role: "travelers", render: forYouPage },
];
