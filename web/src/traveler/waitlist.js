// The waitlist: joining it from a listing whose dates are sold out (POST /listings/{id}/waitlist)
// and the traveler's entries (GET /me/waitlist, DELETE /me/waitlist/{entry_id}).
import { api } from "../api.js";
import { link } from "../router.js";
import { session } from "../session.js";
import { busy, field, formatDate, formatInstant, formValues, h, mount, notice, pagedList, statusBadge } from "../ui.js";

const STATUS_TEXT = {
  WAITING: "In line: you get a hold and an email when units come free.",
  OFFERING: "Units came free: your hold is being placed.",
  OFFERED: "A hold was placed for you: pay before it expires.",
  LEFT: "You left this waitlist.",
  EXPIRED: "The date passed before units came free.",
};

function datesText(entry) {
  if (entry.check_in) return `${formatDate(entry.check_in)} → ${formatDate(entry.check_out)}`;
  return formatDate(entry.date);
}

function currentPath() {
  return location.hash.replace(/^#/, "") || "/";
}

function entrySummary(entry) {
  return h("p", {}, statusBadge(entry.status), " ", datesText(entry), ` · ${entry.quantity} `,
    entry.quantity === 1 ? "unit" : "units", " · ", STATUS_TEXT[entry.status] || "");
}

// Offered on a listing's page when the dates asked for are sold out.
export function waitlistJoinForm(listing, defaults = {}) {
  const hotel = listing.kind === "hotel";
  const box = h("section", { class: "card waitlist-join", "aria-labelledby": `waitlist-${listing.listing_id}` });
  const heading = h("h2", { id: `waitlist-${listing.listing_id}`, style: { marginTop: 0 } }, "Sold out: join the waitlist");
  const explain = h("p", {},
    hotel ? "These nights are sold out." : "This date is sold out.",
    " Join the waitlist: when units come free, the oldest entry that fits receives an automatic hold and an email, and you then have the usual time to pay.");

  if (!session.signedIn()) {
    mount(box, heading, explain,
      h("p", {}, h("a", { href: link("/signin", { next: currentPath() }) }, "Sign in to join the waitlist")));
    return box;
  }
  if (!session.hasRole("travelers")) {
    mount(box, heading, explain, h("p", { class: "muted" }, "Only traveler accounts can join a waitlist."));
    return box;
  }

  // The listing's page already has its date and quantity pickers: the dates it passes are shown
  // as text; only what it leaves out is asked here.
  const given = hotel ? Boolean(defaults.check_in && defaults.check_out) : Boolean(defaults.date);
  const dateFields = given ? [] : hotel
    ? [field("Check-in", h("input", { name: "check_in", type: "date", required: true })),
      field("Check-out", h("input", { name: "check_out", type: "date", required: true }))]
    : [field("Date", h("input", { name: "date", type: "date", required: true }))];
  const quantityField = defaults.quantity ? null
    : field(hotel ? "Rooms" : "Quantity", h("input", { name: "quantity", type: "number", min: 1, step: 1, required: true,
      inputmode: "numeric", value: "1" }));
  const form = h("form", { novalidate: true },
    given || defaults.quantity
      ? h("p", {}, h("strong", {}, "Wanted: "),
        given ? datesText(defaults) : "", given && defaults.quantity ? " · " : "",
        defaults.quantity ? `${defaults.quantity} ${defaults.quantity === 1 ? "unit" : "units"}` : "")
      : null,
    dateFields.length || quantityField ? h("div", { class: "row" }, dateFields, quantityField) : null,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Join the waitlist")));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = { ...formValues(form) };
    const body = { quantity: Number(defaults.quantity || values.quantity || 0) };
    if (hotel) {
      body.check_in = given ? defaults.check_in : values.check_in || "";
      body.check_out = given ? defaults.check_out : values.check_out || "";
    } else {
      body.date = given ? defaults.date : values.date || "";
    }
    busy(form.querySelector("button[type=submit]"), form, async () => {
      const entry = await api.post(`/listings/${encodeURIComponent(listing.listing_id)}/waitlist`, body);
      mount(box, heading,
        notice("You are on the waitlist."),
        entrySummary(entry),
        h("p", {}, h("a", { href: "#/waitlist" }, "See my waitlist")));
    });
  });
  mount(box, heading, explain, form);
  return box;
}

// Listing titles for the entries (the entries carry only listing ids), read once per listing.
function listingTitles() {
  const cache = new Map();
  return (listingId) => {
    if (!cache.has(listingId)) {
      cache.set(listingId, api.get(`/listings/${encodeURIComponent(listingId)}`).then((listing) => listing.title, () => null));
    }
    return cache.get(listingId);
  };
}

function waitlistPage(view) {
  const titleOf = listingTitles();
  const status = h("div", { "aria-live": "polite" });

  function entryItem(entry) {
    const title = h("a", { href: link(`/listings/${encodeURIComponent(entry.listing_id)}`) }, entry.listing_id);
    titleOf(entry.listing_id).then((text) => { if (text) title.textContent = text; });
    const errors = h("div", {});
    const item = h("li", { class: "waitlist-entry" },
      h("h2", { style: { fontSize: "1.05rem", margin: "0 0 0.3rem" } }, title),
      entrySummary(entry),
      h("p", { class: "muted" }, `Joined ${formatInstant(entry.joined_at)}`),
      errors);
    if (entry.status === "OFFERED" && entry.booking_id) {
      item.append(h("p", {}, h("a", { href: link(`/bookings/${encodeURIComponent(entry.booking_id)}`), class: "button primary" },
        `Pay for your hold${entry.reference ? ` ${entry.reference}` : ""}`)));
    }
    if (entry.status === "WAITING") {
      const leave = h("button", { type: "button", class: "danger" }, "Leave");
      leave.setAttribute("aria-label", `Leave the waitlist for ${datesText(entry)}`);
      leave.addEventListener("click", () => busy(leave, errors, async () => {
        await api.del(`/me/waitlist/${encodeURIComponent(entry.entry_id)}`);
        mount(status, notice("You left the waitlist."));
        renderList();
      }));
      item.append(h("div", { class: "actions" }, leave));
    }
    return item;
  }

  const listBox = h("div", {});
  function renderList() {
    mount(listBox, pagedList(async (cursor) => {
      const page = await api.get("/me/waitlist", { cursor });
      return { items: page.entries || [], next_cursor: page.next_cursor };
    }, entryItem, { empty: "You are not on any waitlist. When the dates you want are sold out, join the waitlist from the listing's page." }));
  }

  mount(view, h("h1", {}, "My waitlist"),
    h("p", {}, "When units come free on sold-out dates, the oldest entry that fits receives an automatic hold and an email."),
    status, listBox);
  renderList();
}

export const routes = [
  { pattern: "/waitlist", title: "My waitlist", role: "travelers", render: waitlistPage },
];
