// One booking (GET /bookings/{id}): its items and amounts, the hold's countdown, payment,
// following CONFIRMING/CANCELLING until they settle (polling, stopped when the page is left),
// the timeline, cancellation after its quote, reviews and the help link.
import { api } from "../api.js";
import { link } from "../router.js";
import { busy, errorBox, formatInstant, h, money, mount, notice, statusBadge, countdown } from "../ui.js";
import { reviewForm } from "./reviews.js";
import { caseLink } from "./help.js";
import { paymentForm } from "./payment.js";
import { whenText } from "./trip.js";

const SETTLING = new Set(["CONFIRMING", "CANCELLING"]);
const POLL_MS = 1500;
const MAX_RETRY_MS = 10_000; // a failing read is retried with backoff, at most this far apart
const HELD_RECHECK_MS = 10_000; // the hold's time is up but the API still says HELD: ask again

// What the page shows of a booking that a poll may change: the page is redrawn only when this
// changed (a redraw while nothing changed would throw away the keyboard focus and what was typed).
function signature(booking) {
  return JSON.stringify([booking.status, booking.amount, booking.discount, booking.captured_amount,
    booking.refunded_amount, booking.refund_quote, booking.expires_at, (booking.timeline || []).length,
    booking.available_actions || []]);
}

// Where the focus was, to find "the same" control again in a redrawn page.
function focusMark(view) {
  const active = document.activeElement;
  if (!active || active === document.body || !view.contains(active)) return null;
  return {
    id: active.id && !/^f\d+$/.test(active.id) ? active.id : null, // field()'s ids change per draw
    name: active.getAttribute("name"), value: active.getAttribute("value"),
    tag: active.tagName, text: (active.textContent || "").trim(),
  };
}

function restoreFocus(view, mark) {
  if (!mark) return;
  const candidates = [...view.querySelectorAll(mark.tag)];
  const found = (mark.id && document.getElementById(mark.id) && view.contains(document.getElementById(mark.id))
    ? document.getElementById(mark.id) : null)
    || (mark.name ? candidates.find((el) => el.getAttribute("name") === mark.name
      && (mark.value === null || el.getAttribute("value") === mark.value)) : null)
    || (mark.text ? candidates.find((el) => (el.textContent || "").trim() === mark.text) : null);
  if (found && !found.disabled) {
    found.focus({ preventScroll: true });
    return;
  }
  const status = view.querySelector(".booking-status");
  if (status) {
    status.setAttribute("tabindex", "-1");
    status.focus({ preventScroll: true });
  }
}

const EXPLAIN = {
  HELD: "Held for you: pay before the hold expires.",
  CONFIRMING: "Payment authorized: confirming with the providers…",
  CONFIRMED: "Confirmed. Have a good trip!",
  CANCELLING: "Cancelling: the refund is on its way…",
  CANCELLED: "Cancelled.",
  EXPIRED: "The hold expired before payment; nothing was charged.",
  FAILED: "The payment could not be completed; nothing was charged and the hold was released.",
};

function timelineEntry(entry) {
  const what = entry.status ? statusBadge(entry.status) : h("span", {}, String(entry.event || "").replace(/_/g, " "));
  return h("li", {},
    h("time", { datetime: entry.at, class: "muted" }, formatInstant(entry.at)), " ",
    what,
    entry.amount ? [" ", h("span", {}, money(entry.amount))] : null,
    entry.note ? h("span", { class: "muted" }, ` (${String(entry.note).replace(/_/g, " ")})`) : null,
    entry.by ? h("span", { class: "muted" }, ` · by ${entry.by}`) : null);
}

function itemsTable(booking) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Item", "Kind", "When", "Quantity", "Amount"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, (booking.items || []).map((item) => h("tr", {},
      h("td", {}, h("a", { href: link(`/listings/${item.listing_id}`) }, item.title)),
      h("td", {}, item.kind),
      h("td", {}, whenText(item)),
      h("td", {}, String(item.quantity)),
      h("td", {}, money(item.amount)))))));
}

function amounts(booking) {
  const rows = [["Amount", money(booking.amount)]];
  if (booking.discount) rows.push([`Discount (${booking.discount.code})`, `− ${money(booking.discount.amount)}`]);
  rows.push(["Captured", money(booking.captured_amount)], ["Refunded", money(booking.refunded_amount)]);
  if (booking.refund_quote) rows.push(["Refund on its way", money(booking.refund_quote)]);
  return h("dl", { class: "amounts", style: { display: "grid", gridTemplateColumns: "max-content 1fr", gap: "0.2rem 1rem", margin: "0.5rem 0" } },
    rows.map(([term, value]) => [h("dt", { style: { fontWeight: "600" } }, term), h("dd", { style: { margin: 0 } }, value)]));
}

async function render(view, { params }) {
  const path = `/bookings/${encodeURIComponent(params.id)}`;
  let stopped = false;
  let timer = null;
  let shown = null; // signature() of what the page shows
  let problems = h("div");
  let generation = 0; // bumped by what the user did: an older read's answer is then out of date
  const hash = location.hash;
  const first = await api.get(path);
  if (location.hash !== hash) return () => {}; // the user moved on while it loaded: draw nothing

  function schedule(fn, ms) {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(fn, ms);
  }

  // Reads the booking again. A 4xx is the API's definite answer (gone, not yours, signed out):
  // reading again would get the same, so the page stops and says so. A network error or a 5xx
  // is retried, less and less often (at most every 10 s).
  async function reload({ failures = 0, heldCheck = false } = {}) {
    const started = generation;
    let booking;
    try {
      booking = await api.get(path);
    } catch (err) {
      if (stopped || started !== generation) return;
      if (err.status >= 400 && err.status < 500) {
        clearTimeout(timer);
        const box = errorBox(err);
        const signInLink = err.status === 401 && !box.querySelector('a[href^="#/signin"]'); // errorBox may have one
        mount(problems, box, signInLink
          ? h("p", {}, "Your session has ended. ",
            h("a", { href: link("/signin", { next: `/bookings/${params.id}` }) }, "Sign in again"), " to follow this booking.")
          : null);
        return;
      }
      problems.replaceChildren(errorBox(err));
      const wait = Math.min(MAX_RETRY_MS, POLL_MS * 2 ** (failures + 1));
      schedule(() => reload({ failures: failures + 1, heldCheck }), wait);
      return;
    }
    if (stopped || started !== generation) return;
    problems.replaceChildren();
    if (heldCheck && booking.status === "HELD") {
      // The hold's time is up by this browser's clock, but not yet for the API (the clocks differ,
      // or it is just being swept): no redraw (its countdown would end at once again), a new
      // look in 10 s.
      schedule(() => reload({ heldCheck: true }), HELD_RECHECK_MS);
      return;
    }
    draw(booking);
  }

  function cancelSection() {
    const area = h("div");
    const start = h("button", { type: "button", class: "danger" }, "Cancel booking…");
    const section = h("section", { class: "card", "aria-labelledby": "cancel-heading" },
      h("h2", { id: "cancel-heading", style: { marginTop: 0 } }, "Cancel"), area, h("div", { class: "actions" }, start));
    start.addEventListener("click", () => busy(start, section, async () => {
      const quote = await api.get(`${path}/cancellation-quote`);
      if (stopped) return;
      const confirm = h("button", { type: "button", class: "danger" }, "Confirm cancellation");
      const keep = h("button", { type: "button" }, "Keep my booking");
      keep.addEventListener("click", () => {
        area.replaceChildren();
        start.style.display = "";
        start.focus();
      });
      confirm.addEventListener("click", () => busy(confirm, section, async () => {
        const after = await api.post(`${path}/cancel`, {});
        if (!stopped) draw(after, after.status === "CANCELLED" ? "Your booking is cancelled." : "Cancellation requested.");
      }));
      start.style.display = "none";
      mount(area,
        h("div", { class: "notice warn", role: "status", "aria-labelledby": "quote-heading" },
          h("h3", { id: "quote-heading", style: { margin: "0 0 0.3rem" } }, "Cancellation quote"),
          h("p", { style: { margin: "0 0 0.3rem" } }, "Refund if you cancel now: ", h("strong", { class: "price refund" }, money(quote.refund))),
          quote.policy ? h("p", { style: { margin: "0 0 0.3rem" } }, quote.policy) : null,
          quote.valid_until ? h("p", { class: "muted", style: { margin: 0 } }, `This quote holds until ${formatInstant(quote.valid_until)}.`) : null),
        h("div", { class: "actions" }, confirm, keep));
      confirm.focus();
    }));
    return section;
  }

  function draw(booking, message) {
    const now = signature(booking);
    if (!message && now === shown) {
      // Nothing a reader sees has changed: keep the page (and the focus) as it is.
      if (SETTLING.has(booking.status)) schedule(() => reload(), POLL_MS);
      return;
    }
    clearTimeout(timer);
    if (message) generation += 1;
    const mark = shown === null ? null : focusMark(view);
    shown = now;
    problems = h("div");
    const actions = booking.available_actions || [];
    const held = booking.status === "HELD";
    document.title = `Booking ${booking.reference || booking.booking_id} · Itinera`;
    const reviews = booking.status === "CONFIRMED"
      ? (booking.items || []).map((item) => reviewForm(booking, item)).filter(Boolean) : [];
    mount(view,
      h("h1", {}, `Booking ${booking.reference || booking.booking_id}`),
      h("p", {}, h("a", { href: "#/bookings" }, "← My bookings")),
      problems,
      message ? notice(message) : null,
      h("section", { class: "card", "aria-labelledby": "summary-heading" },
        h("h2", { id: "summary-heading", style: { marginTop: 0 } }, "Summary"),
        h("p", { role: "status", "aria-live": "polite", class: "booking-status" },
          "Status: ", statusBadge(booking.status), " ", h("span", {}, EXPLAIN[booking.status] || "")),
        held && booking.expires_at
          ? h("p", { class: "hold-timer" }, "Hold expires in ", countdown(booking.expires_at, () => reload({ heldCheck: true })),
            h("span", { class: "muted" }, ` (at ${formatInstant(booking.expires_at)})`))
          : null,
        h("p", {}, "Reference: ", h("strong", { class: "reference" }, booking.reference || "—")),
        itemsTable(booking),
        amounts(booking)),
      actions.includes("pay") ? paymentForm(booking, { onPaid: (after) => { if (!stopped) draw(after, "Payment authorized."); } }) : null,
      actions.includes("cancel") ? cancelSection() : null,
      reviews.length ? h("section", { "aria-labelledby": "reviews-heading" },
        h("h2", { id: "reviews-heading" }, "Review your trip"), reviews) : null,
      h("section", { "aria-labelledby": "timeline-heading" },
        h("h2", { id: "timeline-heading" }, "Timeline"),
        h("ol", { class: "timeline" }, (booking.timeline || []).map(timelineEntry))),
      h("section", { "aria-labelledby": "help-heading" },
        h("h2", { id: "help-heading" }, "Need help?"),
        caseLink(booking) || h("a", { href: "#/help" }, "Help and FAQ")));
    restoreFocus(view, mark);
    if (SETTLING.has(booking.status)) schedule(() => reload(), POLL_MS);
  }

  draw(first);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export const routes = [{ pattern: "/bookings/:id", title: "Booking", role: "travelers", render }];
