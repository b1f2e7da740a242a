// One booking on the support desk: what was booked, the money (captured, refunded, what is left
// to refund), its timeline and its audit (GET /bookings/{id}, GET /bookings/{id}/audit), and the
// agent's actions: cancel (after reading the cancellation quote) and refund part or all of it.
//
// Refunds are idempotent (POST /bookings/{id}/refunds with an Idempotency-Key): a new key for each
// new refund, but the SAME key when the agent retries a request that got no answer (network
// error, 5xx, request still in progress, rate limited), so a lost answer never refunds twice. The
// unanswered request is kept in sessionStorage per booking ({amount, reason, key}), so a reload of
// the page in between still retries it with its key; a definite answer forgets it.
import { api, newIdempotencyKey } from "../api.js";
import { link } from "../router.js";
import {
  busy, errorBox, field, formatDate, formatInstant, fromMinor, h, loading, money, mount, notice, statusBadge, toMinor,
} from "../ui.js";

const SETTLING = new Set(["CONFIRMING", "CANCELLING"]);

function dates(item) {
  if (item.check_in) return `${formatDate(item.check_in)} – ${formatDate(item.check_out)}`;
  return formatDate(item.date);
}

function policyText(policy) {
  if (!policy) return "";
  return `Free cancellation until ${policy.free_until_hours} h before; then ${policy.refund_percent_after}% refunded`;
}

function remaining(booking) {
  const captured = booking.captured_amount ? booking.captured_amount.amount : 0;
  const refunded = booking.refunded_amount ? booking.refunded_amount.amount : 0;
  return { amount: Math.max(0, captured - refunded), currency: booking.amount.currency };
}

// "agent:2400fc54-..." is how the audit names staff; shown as it is (it is the audit's record).
function actorText(actor) {
  return actor || "";
}

function itemsTable(booking) {
  return h("div", { class: "table-wrap" },
    h("table", { "aria-label": "Items" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Item"), h("th", { scope: "col" }, "Dates"), h("th", { scope: "col" }, "Quantity"),
        h("th", { scope: "col" }, "Price"), h("th", { scope: "col" }, "Cancellation policy"))),
      h("tbody", {}, booking.items.map((item) => h("tr", {},
        h("td", {}, item.title, h("br"), h("small", { class: "muted" }, `${item.kind} · ${item.listing_id}`)),
        h("td", {}, dates(item)),
        h("td", {}, String(item.quantity)),
        h("td", {}, money(item.amount), item.discount ? h("small", { class: "muted" }, ` (less ${money(item.discount)})`) : null),
        h("td", {}, policyText(item.cancellation_policy)))))));
}

function moneyTable(booking) {
  const rows = [
    ["Amount", money(booking.amount)],
    booking.discount ? [`Discount (${booking.discount.code})`, money(booking.discount.amount)] : null,
    ["Captured", money(booking.captured_amount)],
    ["Refunded", money(booking.refunded_amount)],
    ["Remaining refundable", money(remaining(booking))],
    booking.refund_quote ? ["Refund on its way (cancelling)", money(booking.refund_quote)] : null,
  ].filter(Boolean);
  return h("div", { class: "table-wrap" },
    h("table", { "aria-label": "Money", style: { width: "auto", minWidth: "min(100%, 24rem)" } },
      h("tbody", {}, rows.map(([label, value]) => h("tr", {},
        h("th", { scope: "row" }, label), h("td", { class: "price", dataset: { money: label } }, value))))));
}

function timelineList(booking) {
  return h("ol", { class: "timeline" }, (booking.timeline || []).map((entry) => h("li", {},
    h("time", { datetime: entry.at, class: "muted" }, formatInstant(entry.at)), " ",
    entry.status ? statusBadge(entry.status) : h("strong", {}, String(entry.event || "").replaceAll("_", " ")),
    entry.amount ? ` ${money(entry.amount)}` : "",
    entry.by ? h("span", { class: "muted" }, ` by ${entry.by}`) : "",
    entry.note ? h("div", {}, entry.note) : "")));
}

function auditTable(audit) {
  const entries = audit.entries || [];
  if (!entries.length) return h("p", { class: "empty" }, "No money movement or staff action yet.");
  return h("div", { class: "table-wrap" },
    h("table", { "aria-label": "Audit" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "At"), h("th", { scope: "col" }, "Actor"), h("th", { scope: "col" }, "Action"),
        h("th", { scope: "col" }, "Amount"), h("th", { scope: "col" }, "Reason"))),
      h("tbody", {}, entries.map((entry) => h("tr", {},
        h("td", {}, h("time", { datetime: entry.at }, formatInstant(entry.at))),
        h("td", { style: { overflowWrap: "anywhere" } }, actorText(entry.actor)),
        h("td", {}, entry.action),
        h("td", {}, entry.amount ? money(entry.amount) : ""),
        h("td", {}, entry.reason || ""))))));
}

// A message of the page itself (not the API's): shown like the API's errors, without a code.
function pageError(container, message) {
  container.querySelector(":scope > .error")?.remove();
  container.prepend(errorBox({ message }));
}

// The refund of a booking whose answer never came: {amount, reason, key}, or null.
function pendingRefundKey(bookingId) {
  return `itinera.refund.${bookingId}`;
}

function pendingRefund(bookingId) {
  try {
    const pending = JSON.parse(sessionStorage.getItem(pendingRefundKey(bookingId)));
    if (pending && Number.isSafeInteger(pending.amount) && typeof pending.reason === "string"
      && typeof pending.key === "string" && pending.key) return pending;
  } catch { /* none */ }
  return null;
}

function savePendingRefund(bookingId, pending) {
  try {
    if (pending) sessionStorage.setItem(pendingRefundKey(bookingId), JSON.stringify(pending));
    else sessionStorage.removeItem(pendingRefundKey(bookingId));
  } catch { /* storage full or blocked: the key then lives as long as the page */ }
}

function refundForm(booking, onDone) {
  const currency = booking.amount.currency;
  const left = remaining(booking);
  const bookingId = booking.booking_id;
  const amountInput = h("input", { name: "amount", type: "text", inputmode: "decimal", autocomplete: "off" });
  const reasonInput = h("textarea", { name: "reason", maxlength: 500, required: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Refund");
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "agent-refund" },
    h("h2", { id: "agent-refund", style: { marginTop: "0" } }, "Refund"),
    field(`Refund amount (${currency})`, amountInput,
      `At most ${money(left)}: what is left to refund.`),
    field("Reason", reasonInput, "Required: it enters the booking's timeline and audit."),
    status,
    h("div", { class: "actions" }, submit));

  // A refund sent before (maybe before a reload) that never got its answer: offered again as it
  // was, so retrying it sends the same key.
  let pending = pendingRefund(bookingId);
  let memory = pending; // when sessionStorage is not available
  if (pending) {
    amountInput.value = fromMinor(pending.amount, currency);
    reasonInput.value = pending.reason;
    status.replaceChildren(notice(`A refund of ${money({ amount: pending.amount, currency })} ("${pending.reason}") ` +
      "got no final answer. Press Refund to retry it: the same request is sent again, so it can never refund twice.", "warn"));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const amount = toMinor(amountInput.value.trim(), currency);
    const reason = reasonInput.value.trim();
    if (!amountInput.value.trim() || !Number.isSafeInteger(amount) || amount <= 0) {
      pageError(form, `Type the amount to refund in ${currency} (at most ${fromMinor(left.amount, currency)}).`);
      amountInput.focus();
      return;
    }
    if (!reason) {
      pageError(form, "Give the reason for this refund.");
      reasonInput.focus();
      return;
    }
    pending = pendingRefund(bookingId) || memory;
    if (!pending || pending.amount !== amount || pending.reason !== reason) {
      pending = { amount, reason, key: newIdempotencyKey() };
    }
    const attempt = pending;
    memory = attempt;
    savePendingRefund(bookingId, attempt); // before sending: a reload meanwhile retries it with this key
    status.replaceChildren();
    busy(submit, form, async () => {
      let refund;
      try {
        refund = await api.post(`/bookings/${encodeURIComponent(bookingId)}/refunds`,
          { amount: attempt.amount, reason: attempt.reason }, { idempotencyKey: attempt.key });
      } catch (err) {
        const unanswered = err.status === 0 || err.status >= 500 || err.code === "REQUEST_IN_PROGRESS" || err.status === 429;
        if (unanswered) {
          status.replaceChildren(notice("This refund got no final answer. Press Refund again to retry it: the same " +
            "request is sent again, so it can never refund twice.", "warn"));
        } else {
          forget(attempt); // the API answered: a next submission is a new refund
        }
        throw err;
      }
      forget(attempt);
      await onDone(refund, attempt.reason);
    });
  });

  function forget(attempt) {
    if (memory === attempt) memory = null;
    if (pendingRefund(bookingId)?.key === attempt.key) savePendingRefund(bookingId, null);
  }
  return form;
}

function cancelSection(booking, onDone) {
  const section = h("section", { class: "card", "aria-labelledby": "agent-cancel" },
    h("h2", { id: "agent-cancel", style: { marginTop: "0" } }, "Cancel"));
  const start = h("button", { type: "button", class: "danger" }, "Cancel booking…");
  section.append(h("div", { class: "actions" }, start));
  start.addEventListener("click", () => busy(start, section, async () => {
    const quote = await api.get(`/bookings/${encodeURIComponent(booking.booking_id)}/cancellation-quote`);
    const reason = h("input", { name: "reason", maxlength: 500, autocomplete: "off" });
    const confirm = h("button", { type: "submit", class: "danger" }, "Confirm cancellation");
    const keep = h("button", { type: "button", class: "secondary" }, "Keep the booking");
    const form = h("form", { novalidate: true },
      h("p", {}, "Cancelling now refunds ", h("strong", { class: "price" }, money(quote.refund)), "."),
      h("p", { class: "muted" }, quote.policy,
        quote.valid_until ? ` This quote holds until ${formatInstant(quote.valid_until)}.` : ""),
      field("Cancellation reason (optional)", reason),
      h("div", { class: "actions" }, confirm, keep));
    keep.addEventListener("click", () => {
      form.remove();
      start.hidden = false;
      start.focus();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(confirm, form, async () => {
        const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
        const cancelled = await api.post(`/bookings/${encodeURIComponent(booking.booking_id)}/cancel`, body);
        await onDone(cancelled);
      });
    });
    start.hidden = true;
    section.append(form);
    confirm.focus();
  }));
  return section;
}

function render(view, { params }) {
  const id = params.id;
  const heading = h("h1", {}, "Booking");
  const flash = h("div", { "aria-live": "polite" });
  const body = h("div", {}, loading());
  mount(view, heading, h("p", {}, h("a", { href: link("/agent") }, "← Support desk")), flash, body);
  let timer = null;
  let alive = true;
  const hash = location.hash; // the page's own address: a load that ends after the user left draws nothing

  async function load() {
    clearTimeout(timer);
    const path = `/bookings/${encodeURIComponent(id)}`;
    const [booking, audit] = await Promise.allSettled([api.get(path), api.get(`${path}/audit`)]);
    if (!alive || location.hash !== hash) return;
    if (booking.status === "rejected") {
      mount(body, errorBox(booking.reason));
      return;
    }
    show(booking.value, audit);
    // A confirmation or cancellation the workers are settling: read it again until it has.
    if (SETTLING.has(booking.value.status)) timer = setTimeout(() => load().catch(() => {}), 2000);
  }

  function show(booking, audit) {
    heading.textContent = `Booking ${booking.reference}`;
    document.title = `Booking ${booking.reference} · Itinera`;
    const actions = booking.available_actions || [];
    const contact = booking.contact || {};
    mount(body,
      h("section", { class: "card", "aria-label": "Summary" },
        h("p", { class: "row", style: { alignItems: "center", gap: "0.5rem 1rem" } },
          statusBadge(booking.status),
          h("span", {}, `Reference ${booking.reference}`),
          h("span", { class: "muted" }, `Booked ${formatInstant(booking.created_at)}`)),
        h("p", {}, h("strong", {}, contact.name || ""), " ", contact.email || "",
          contact.phone ? ` · ${contact.phone}` : "", " · ",
          h("a", { href: link("/agent", { email: contact.email }) }, "Their other bookings")),
        booking.expires_at ? h("p", { class: "muted" }, `Hold expires ${formatInstant(booking.expires_at)}`) : null),
      h("h2", {}, "Items"),
      itemsTable(booking),
      h("h2", {}, "Money"),
      moneyTable(booking),
      actions.includes("refund") ? refundForm(booking, async (refund, reason) => {
        flash.replaceChildren(notice(`Refund of ${money(refund.amount)} ${String(refund.status).toLowerCase()}: ${reason}`));
        await load();
      }) : null,
      actions.includes("cancel") ? cancelSection(booking, async (cancelled) => {
        flash.replaceChildren(notice(cancelled.status === "CANCELLED" ? "The booking is cancelled."
          : `Cancellation requested${cancelled.refund_quote ? `: ${money(cancelled.refund_quote)} will be refunded` : ""}.`));
        await load();
      }) : null,
      h("h2", {}, "Audit"),
      audit.status === "fulfilled" ? auditTable(audit.value) : errorBox(audit.reason),
      h("h2", {}, "Timeline"),
      timelineList(booking));
  }

  return load().then(() => () => {
    alive = false;
    clearTimeout(timer);
  });
}

export const routes = [{ pattern: "/agent/bookings/:id", title: "Booking", role: "agents", render }];
