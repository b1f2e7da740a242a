// Reviews: a listing's rating and reviews (GET /listings/{id}/reviews) and, for a confirmed
// booking, the form to review what was booked (POST /listings/{id}/reviews with its booking_id).
import { api } from "../api.js";
import { busy, field, formatDate, formatInstant, h, isoDay, pagedList } from "../ui.js";

// Stars as glyphs for the eye and as a sentence for screen readers.
export function stars(value) {
  const number = Number(value) || 0;
  const whole = Math.max(0, Math.min(5, Math.round(number)));
  const label = `${Number.isInteger(number) ? number : number.toFixed(1)} out of 5 stars`;
  return h("span", { class: "stars", role: "img", "aria-label": label, title: label, style: { color: "#b7791f", letterSpacing: "0.05em" } },
    "★".repeat(whole) + "☆".repeat(5 - whole));
}

function reviewItem(review) {
  return h("li", { class: "review" },
    h("div", {}, stars(review.rating), " ", h("strong", {}, review.author || "Traveler"), " ",
      h("span", { class: "muted" }, h("time", { datetime: review.created_at }, formatDate((review.created_at || "").slice(0, 10))))),
    review.comment ? h("p", { style: { whiteSpace: "pre-wrap", margin: "0.3rem 0", overflowWrap: "anywhere" } }, review.comment) : null,
    review.reply
      ? h("div", { class: "reply", style: { borderLeft: "3px solid var(--line)", paddingLeft: "0.75rem", marginTop: "0.3rem" } },
        h("strong", {}, "Reply from the vendor"), " ",
        h("span", { class: "muted" }, h("time", { datetime: review.reply.created_at }, formatInstant(review.reply.created_at))),
        h("p", { style: { whiteSpace: "pre-wrap", margin: "0.2rem 0 0", overflowWrap: "anywhere" } }, review.reply.body))
      : null);
}

function summary(rating) {
  if (!rating || !rating.count) return h("p", { class: "muted" }, "No reviews yet.");
  return h("p", {}, stars(rating.average), " ",
    h("strong", {}, `${Number(rating.average).toFixed(1)} out of 5`),
    ` · ${rating.count} ${rating.count === 1 ? "review" : "reviews"}`);
}

// The listing's rating summary and its reviews, newest first, with "Load more".
export function reviewsSection(listing) {
  const id = `reviews-${listing.listing_id}`;
  return h("section", { class: "reviews", "aria-labelledby": id },
    h("h2", { id }, "Reviews"),
    summary(listing.rating),
    pagedList(async (cursor) => {
      const page = await api.get(`/listings/${encodeURIComponent(listing.listing_id)}/reviews`, { cursor });
      return { items: page.reviews || [], next_cursor: page.next_cursor };
    }, reviewItem, { empty: "" }));
}

let formSeq = 0;

// For a CONFIRMED booking: rate one of its items once its date has come (the API's rule).
export function reviewForm(booking, item) {
  if (!booking || booking.status !== "CONFIRMED" || !item) return null;
  const firstDate = item.date || item.check_in;
  const box = h("section", { class: "card review-form" });
  const headingId = `review-heading-${++formSeq}`;
  const heading = h("h2", { id: headingId, style: { marginTop: 0 } }, `Review ${item.title || "your booking"}`);
  box.setAttribute("aria-labelledby", headingId);
  if (firstDate && firstDate > isoDay(0)) {
    box.append(heading, h("p", { class: "muted" }, `You can review this from ${formatDate(firstDate)}, once it has taken place.`));
    return box;
  }
  const name = `rating-${formSeq}`;
  const radios = [1, 2, 3, 4, 5].map((value) => {
    const inputId = `${name}-${value}`;
    return h("span", { style: { display: "inline-flex", alignItems: "center", gap: "0.25rem", marginRight: "0.75rem" } },
      h("input", { type: "radio", name: "rating", id: inputId, value: String(value), required: true,
        style: { width: "auto", minHeight: "auto" } }),
      h("label", { for: inputId }, `${value} ${value === 1 ? "star" : "stars"}`));
  });
  const form = h("form", { novalidate: true },
    h("fieldset", { style: { border: "1px solid var(--line)", borderRadius: "6px", marginBottom: "0.75rem" } },
      h("legend", {}, "Your rating"), h("div", { style: { display: "flex", flexWrap: "wrap", rowGap: "0.4rem" } }, radios)),
    field("Comment (optional)", h("textarea", { name: "comment", rows: 4, maxlength: 2000 })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Post review")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const rating = Number(data.get("rating"));
    const body = { rating: Number.isInteger(rating) && rating > 0 ? rating : 0, comment: String(data.get("comment") || "").trim(),
      booking_id: booking.booking_id };
    busy(form.querySelector("button[type=submit]"), form, async () => {
      const review = await api.post(`/listings/${encodeURIComponent(item.listing_id)}/reviews`, body);
      form.replaceWith(
        h("div", { class: "notice", role: "status" }, "Thank you: your review is published."),
        h("ul", { class: "list" }, reviewItem(review)));
    });
  });
  box.append(heading, form);
  return box;
}
