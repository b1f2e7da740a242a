// #/vendor: the vendor's listings and the "New listing" form; #/vendor/listings/:id: edit the
// listing, its availability and price calendar with the occupancy picture, and its reviews.
import { api } from "../api.js";
import { link } from "../router.js";
import { session } from "../session.js";
import {
  busy, errorBox, field, formatDate, formatInstant, formValues, fromMinor, h, isoDay, mount,
  notice, pagedList, select, toMinor,
} from "../ui.js";
import { KINDS, kindLabel, placeOf, ratingText } from "./common.js";
import { monthRange, occupancyView } from "./occupancy.js";

// A few simple attributes per kind (all optional): [name, label, type].
const ATTRIBUTES = {
  hotel: [["hotel", "Hotel name", "text"], ["room_type", "Room type", "text"], ["guests", "Guests per room", "number"], ["stars", "Stars", "number"]],
  flight: [["flight_number", "Flight number", "text"], ["departs_at", "Departure time", "time"], ["duration_minutes", "Duration (minutes)", "number"], ["cabin", "Cabin", "text"]],
  event: [["starts_at", "Start time", "time"], ["duration_minutes", "Duration (minutes)", "number"], ["venue", "Venue", "text"]],
  service: [["category", "Category", "text"], ["meeting_point", "Meeting point", "text"], ["duration_minutes", "Duration (minutes)", "number"]],
};

function listingItem(listing) {
  return h("li", {},
    h("a", { href: link(`/vendor/listings/${encodeURIComponent(listing.listing_id)}`) }, listing.title),
    " ", h("span", { class: "badge" }, kindLabel(listing.kind)),
    h("div", { class: "muted" }, `${placeOf(listing)} · ${listing.currency} · ${ratingText(listing.rating)}`));
}

function policyFields(policy = { free_until_hours: 24, refund_percent_after: 0 }) {
  return h("div", { class: "row" },
    field("Free cancellation until (hours before)",
      h("input", { name: "free_until_hours", type: "number", min: "0", max: "8784", step: "1", required: true, value: String(policy.free_until_hours) }),
      "Full refund until this many hours before the first date."),
    field("Refund after that (%)",
      h("input", { name: "refund_percent_after", type: "number", min: "0", max: "100", step: "1", required: true, value: String(policy.refund_percent_after) })));
}

function policyOf(values) {
  return {
    free_until_hours: Number.parseInt(values.free_until_hours ?? "", 10),
    refund_percent_after: Number.parseInt(values.refund_percent_after ?? "", 10),
  };
}

function newListingForm(navigate) {
  const placeBox = h("div");
  const attributeBox = h("fieldset", { class: "card" });
  const kind = select("kind", KINDS, "hotel", { required: true });
  const code = (name, label, hint) => field(label,
    h("input", { name, required: true, maxlength: "3", autocapitalize: "characters", pattern: "[A-Za-z]{3}", style: { textTransform: "uppercase" } }), hint);

  function showKind() {
    const chosen = kind.value;
    if (chosen === "flight") {
      mount(placeBox, h("div", { class: "row" },
        code("origin", "Origin", "Airport or city code, e.g. CDG"),
        code("destination", "Destination", "Airport or city code, e.g. JFK")));
    } else {
      mount(placeBox, code("city", "City", "City code, e.g. PAR"));
    }
    mount(attributeBox, h("legend", {}, "Details shown to travelers (optional)"),
      h("div", { class: "row" }, ATTRIBUTES[chosen].map(([name, label, type]) => field(label,
        h("input", { name: `attr_${name}`, type, min: type === "number" ? "0" : undefined, step: type === "number" ? "1" : undefined })))));
  }
  kind.addEventListener("change", showKind);
  showKind();

  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "new-listing-heading" },
    h("h2", { id: "new-listing-heading", style: { marginTop: 0 } }, "New listing"),
    h("div", { class: "row" }, field("Kind", kind),
      field("Currency", h("input", { name: "currency", value: "EUR", required: true, maxlength: "3", style: { textTransform: "uppercase" } }), "ISO code, e.g. EUR")),
    field("Title", h("input", { name: "title", required: true, maxlength: "200" })),
    field("Description", h("textarea", { name: "description", maxlength: "5000" })),
    placeBox,
    h("fieldset", { class: "card" }, h("legend", {}, "Cancellation policy"), policyFields()),
    attributeBox,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create listing")));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues(form);
    const chosen = kind.value;
    const body = {
      kind: chosen,
      title: values.title || "",
      description: values.description || "",
      currency: (values.currency || "").toUpperCase(),
      cancellation_policy: policyOf(values),
    };
    if (chosen === "flight") {
      body.origin = (values.origin || "").toUpperCase();
      body.destination = (values.destination || "").toUpperCase();
    } else {
      body.city = (values.city || "").toUpperCase();
    }
    const attributes = {};
    for (const [name, , type] of ATTRIBUTES[chosen]) {
      const value = values[`attr_${name}`];
      if (value === undefined) continue;
      attributes[name] = type === "number" ? Number(value) : value;
    }
    if (Object.keys(attributes).length) body.attributes = attributes;
    busy(form.querySelector("button[type=submit]"), form, async () => {
      const created = await api.post("/vendor/listings", body);
      navigate(`/vendor/listings/${encodeURIComponent(created.listing_id)}`, { created: "1" });
    });
  });
  return form;
}

export function listingsPage(view, { navigate }) {
  const list = pagedList(async (cursor) => {
    const page = await api.get("/vendor/listings", { cursor, limit: 20 });
    return { items: page.listings || [], next_cursor: page.next_cursor };
  }, listingItem, { empty: "You have no listings yet: create one below." });
  mount(view,
    h("h1", {}, "Your listings"),
    h("p", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => {
      view.querySelector("#new-listing-heading")?.scrollIntoView();
      view.querySelector("form select[name=kind]")?.focus();
    } }, "New listing")),
    h("section", { "aria-label": "Listings", class: "card" }, list),
    newListingForm(navigate));
}

// ----- one listing -----

function editForm(listing, onSaved) {
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "edit-heading" },
    h("h2", { id: "edit-heading", style: { marginTop: 0 } }, "Listing details"),
    field("Title", h("input", { name: "title", required: true, maxlength: "200", value: listing.title })),
    field("Description", h("textarea", { name: "description", maxlength: "5000" }, listing.description || "")),
    h("fieldset", { class: "card" }, h("legend", {}, "Cancellation policy"), policyFields(listing.cancellation_policy)),
    h("p", { class: "muted" }, "A new policy applies to new bookings only."),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save details")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    form.querySelector(":scope > .notice")?.remove();
    const values = formValues(form);
    busy(form.querySelector("button[type=submit]"), form, async () => {
      const updated = await api.patch(`/vendor/listings/${encodeURIComponent(listing.listing_id)}`, {
        title: values.title || "",
        description: values.description || "",
        cancellation_policy: policyOf(values),
      });
      onSaved(updated);
      form.prepend(notice("Details saved."));
    });
  });
  return form;
}

function committedError(err) {
  const box = errorBox(err);
  const details = err.details || {};
  const dates = Array.isArray(details.dates) ? details.dates : [];
  const committed = details.committed && typeof details.committed === "object" ? details.committed : {};
  if (dates.length) {
    box.append(h("p", { style: { margin: "0.4rem 0 0" } }, "Dates with more units held or sold than that capacity:"),
      h("ul", {}, dates.map((date) => h("li", {},
        `${formatDate(date)} (${date})`, committed[date] !== undefined ? `: ${committed[date]} held or sold` : ""))),
      h("p", { style: { margin: "0.4rem 0 0" } }, "Nothing was changed."));
  }
  return box;
}

function calendarForm(listing, occupancy) {
  const start = isoDay(1);
  const from = h("input", { name: "from", type: "date", required: true, value: start });
  const to = h("input", { name: "to", type: "date", required: true, value: start });
  const capacity = h("input", { name: "capacity", type: "number", min: "0", max: "100000", step: "1", required: true, inputmode: "numeric" });
  const price = h("input", { name: "price", type: "text", inputmode: "decimal", required: true });
  const status = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, "Set availability");
  const form = h("form", { novalidate: true, "aria-labelledby": "calendar-heading" },
    h("div", { class: "row", style: { alignItems: "flex-start" } },
      field("From", from), field("To", to, "Included: every date from the first to the last."),
      field("Capacity", capacity, "Units on sale per date."),
      field(`Price per unit (${listing.currency})`, price, "For example 129.50")),
    h("div", { class: "actions" }, button),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mount(status);
    const minor = toMinor(price.value, listing.currency);
    const units = Number.parseInt(capacity.value, 10);
    const problems = [];
    if (!from.value) problems.push("Choose the first date.");
    if (!to.value) problems.push("Choose the last date.");
    if (from.value && to.value && to.value < from.value) problems.push("The last date comes before the first.");
    if (!Number.isInteger(units) || units < 0) problems.push("Capacity must be a whole number, 0 or more.");
    if (!Number.isFinite(minor) || minor < 0 || price.value.trim() === "") problems.push(`Enter the price in ${listing.currency}, e.g. 129.50.`);
    if (problems.length) {
      mount(status, errorBox({ code: "VALIDATION_ERROR", message: "Check the form.", details: { fields: problems.map((message) => ({ message })) } }));
      return;
    }
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      const result = await api.put(`/vendor/listings/${encodeURIComponent(listing.listing_id)}/availability`,
        { from: from.value, to: to.value, capacity: units, price: minor });
      mount(status, notice(`Saved ${result.updated} date${result.updated === 1 ? "" : "s"}: capacity ${units}, ${fromMinor(minor, listing.currency)} ${listing.currency} per unit.`));
      // Show the month of the change when the picture shows another one.
      const shown = monthRange(occupancy.month());
      const overlaps = from.value <= shown.last && to.value >= shown.first;
      await occupancy.load(overlaps ? occupancy.month() : from.value.slice(0, 7));
    } catch (err) {
      if (err && err.code === "CAPACITY_BELOW_COMMITTED") mount(status, committedError(err));
      else mount(status, errorBox(err));
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
  // A bar of the picture picked: that day in the form, with its current values.
  function pick(date, day) {
    from.value = date;
    to.value = date;
    if (day) {
      capacity.value = String(day.capacity);
      price.value = fromMinor(day.price.amount, day.price.currency);
    }
    capacity.focus();
  }
  return { form, pick };
}

function reviewItem(listing, review) {
  const replyBox = h("div");
  function showReply(reply) {
    mount(replyBox, h("blockquote", { class: "card", style: { margin: "0.5rem 0 0 1rem", background: "#f3f6f9" } },
      h("strong", {}, "Your reply"), " ", h("span", { class: "muted" }, formatInstant(reply.created_at)),
      h("p", { style: { whiteSpace: "pre-wrap", margin: "0.3rem 0 0" } }, reply.body)));
  }
  if (review.reply) {
    showReply(review.reply);
  } else {
    const text = h("textarea", { name: "body", maxlength: "2000", required: true });
    const form = h("form", { novalidate: true },
      field(`Reply to ${review.author}`, text),
      h("button", { type: "submit" }, "Send reply"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(form.querySelector("button"), form, async () => {
        const updated = await api.post(
          `/vendor/listings/${encodeURIComponent(listing.listing_id)}/reviews/${encodeURIComponent(review.review_id)}/reply`,
          { body: text.value });
        showReply(updated.reply || { body: text.value, created_at: new Date().toISOString() });
      });
    });
    mount(replyBox, form);
  }
  return h("li", {},
    h("strong", { "aria-label": `${review.rating} of 5 stars` }, "★".repeat(review.rating) + "☆".repeat(5 - review.rating)),
    " ", h("span", {}, review.author), " ", h("span", { class: "muted" }, formatInstant(review.created_at)),
    h("p", { style: { whiteSpace: "pre-wrap", margin: "0.3rem 0 0" } }, review.comment || ""),
    replyBox);
}

export async function listingPage(view, { params, query }) {
  const id = params.id;
  let listing;
  try {
    listing = await api.get(`/listings/${encodeURIComponent(id)}`);
  } catch (err) {
    mount(view, h("h1", {}, "Listing"), errorBox(err), h("p", {}, h("a", { href: "#/vendor" }, "Back to your listings")));
    return undefined;
  }
  const mine = session.profile()?.vendor_id;
  if (mine && listing.vendor_id !== mine) {
    mount(view, h("h1", {}, listing.title),
      errorBox({ code: "NOT_FOUND", message: "This listing belongs to another vendor: you can only manage your own." }),
      h("p", {}, h("a", { href: "#/vendor" }, "Back to your listings")));
    return undefined;
  }
  const title = h("h1", {}, listing.title);
  const meta = h("p", { class: "muted" });
  function showMeta() {
    title.textContent = listing.title;
    mount(meta, h("span", { class: "badge" }, kindLabel(listing.kind)), " ",
      `${placeOf(listing)} · ${listing.currency} · ${ratingText(listing.rating)} · `,
      `free cancellation until ${listing.cancellation_policy.free_until_hours} h before, then ${listing.cancellation_policy.refund_percent_after}% refund`);
  }
  showMeta();
  const month = /^\d{4}-\d{2}$/.test(query.month || "") ? query.month : isoDay(0).slice(0, 7);
  let calendar = null;
  const occupancy = occupancyView(listing.listing_id, month, { onPick: (date, day) => calendar && calendar.pick(date, day) });
  calendar = calendarForm(listing, occupancy);
  const reviews = pagedList(async (cursor) => {
    const page = await api.get(`/listings/${encodeURIComponent(listing.listing_id)}/reviews`, { cursor });
    return { items: page.reviews || [], next_cursor: page.next_cursor };
  }, (review) => reviewItem(listing, review), { empty: "No reviews yet." });

  mount(view,
    title,
    h("p", {}, h("a", { href: "#/vendor" }, "← Your listings")),
    query.created ? notice("Listing created. Set its dates, capacity and prices below to put it on sale.") : null,
    meta,
    h("section", { class: "card", "aria-labelledby": "calendar-heading" },
      h("h2", { id: "calendar-heading", style: { marginTop: 0 } }, "Availability and prices"),
      calendar.form,
      h("h3", { style: { marginBottom: "0.2rem" } }, "Occupancy"),
      occupancy.element),
    editForm(listing, (updated) => { listing = updated; showMeta(); }),
    h("section", { class: "card", "aria-labelledby": "reviews-heading" },
      h("h2", { id: "reviews-heading", style: { marginTop: 0 } }, "Reviews"), reviews));
  await occupancy.load();
  return undefined;
}

