// Paying a held booking: POST /bookings/{id}/payment with a provider token, one Idempotency-Key
// per attempt (the same key again when an attempt's answer was lost to a network error).
// Locally (config.payment_provider "local") the traveler picks one of Stripe's test tokens; on a
// Stripe stage, Stripe.js (loaded from js.stripe.com only then) collects the card in its own
// Card Element and we send only the PaymentMethod id: card data never reaches our API.
// (The Stripe branch cannot be exercised by the local tests.)
import { api, newIdempotencyKey } from "../api.js";
import { config } from "../config.js";
import { busy, h, money, showError } from "../ui.js";

const TEST_TOKENS = [
  ["tok_visa", "Visa card that is accepted"],
  ["tok_mastercard", "Mastercard that is accepted"],
  ["tok_amex", "American Express card that is accepted"],
  ["tok_chargeDeclined", "Card that is declined"],
  ["tok_chargeDeclinedInsufficientFunds", "Card declined for insufficient funds"],
  ["tok_captureFails", "Card accepted, but the charge fails afterwards"],
];

// The key of an attempt whose answer never came, per booking: {method, key}.
function pendingKey(bookingId) {
  return `itinera.payment.${bookingId}`;
}

function keyFor(bookingId, method) {
  try {
    const pending = JSON.parse(sessionStorage.getItem(pendingKey(bookingId)));
    if (pending && pending.method === method && pending.key) return pending.key;
  } catch { /* a new key */ }
  const key = newIdempotencyKey();
  sessionStorage.setItem(pendingKey(bookingId), JSON.stringify({ method, key }));
  return key;
}

async function pay(booking, method) {
  const key = keyFor(booking.booking_id, method);
  try {
    const answer = await api.post(`/bookings/${encodeURIComponent(booking.booking_id)}/payment`,
      { payment_method: method }, { idempotencyKey: key });
    sessionStorage.removeItem(pendingKey(booking.booking_id));
    return answer;
  } catch (err) {
    // A definite answer (declined, expired, ...) ends the attempt: the next one is a new attempt.
    if (!(err.status === 0 || err.code === "REQUEST_IN_PROGRESS" || err.status >= 500)) {
      sessionStorage.removeItem(pendingKey(booking.booking_id));
    }
    throw err;
  }
}

// paymentForm(booking, {onPaid(bookingAfter)}) -> the form; a decline shows its message and the
// form stays for another try.
export function paymentForm(booking, { onPaid } = {}) {
  return config.payment_provider === "stripe" ? stripeForm(booking, onPaid) : localForm(booking, onPaid);
}

function localForm(booking, onPaid) {
  const fieldset = h("fieldset", { style: { border: "none", padding: 0, margin: "0 0 0.5rem" } },
    h("legend", { style: { fontWeight: "600", marginBottom: "0.4rem" } }, "Test card (local stage: Stripe's test tokens, no real money)"),
    TEST_TOKENS.map(([token, label], i) => h("div", { style: { display: "flex", gap: "0.5rem", alignItems: "center", margin: "0.25rem 0" } },
      h("input", { type: "radio", name: "payment_method", id: `pm-${token}`, value: token, checked: i === 0,
        style: { width: "auto", minHeight: "auto" } }),
      h("label", { for: `pm-${token}`, style: { fontWeight: "400" } }, label, " ", h("code", { class: "muted" }, token)))));
  const button = h("button", { type: "submit", class: "primary" }, `Pay ${money(booking.amount)}`);
  const form = h("form", { class: "card", "aria-labelledby": "pay-heading" },
    h("h2", { id: "pay-heading", style: { marginTop: 0 } }, "Pay"),
    fieldset, h("div", { class: "actions" }, button));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const method = form.querySelector("input[name=payment_method]:checked")?.value || "tok_visa";
    busy(button, form, async () => {
      const after = await pay(booking, method);
      if (onPaid) onPaid(after);
    });
  });
  return form;
}

let stripeLoading = null;

function loadStripe() {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  if (!stripeLoading) {
    stripeLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "https://js.stripe.com/v3";
      script.onload = () => resolve(window.Stripe);
      script.onerror = () => { stripeLoading = null; reject(new Error("Stripe.js could not be loaded. Check your connection and try again.")); };
      document.head.append(script);
    });
  }
  return stripeLoading;
}

function stripeForm(booking, onPaid) {
  const cardBox = h("div", { id: "card-element", class: "card", style: { padding: "0.75rem" } });
  const button = h("button", { type: "submit", class: "primary", disabled: true }, `Pay ${money(booking.amount)}`);
  const form = h("form", { class: "card", "aria-labelledby": "pay-heading" },
    h("h2", { id: "pay-heading", style: { marginTop: 0 } }, "Pay"),
    h("p", { id: "card-label", style: { fontWeight: "600", margin: "0 0 0.3rem" } }, "Card"),
    cardBox,
    h("p", { class: "muted" }, "Your card details go straight to Stripe; Itinera never sees them."),
    h("div", { class: "actions" }, button));
  let stripe = null;
  let card = null;
  loadStripe().then((Stripe) => {
    stripe = Stripe(config.stripe_publishable_key);
    card = stripe.elements().create("card");
    card.mount(cardBox);
    button.disabled = false;
  }).catch((err) => showError(form, err));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!stripe || !card) return;
    busy(button, form, async () => {
      // A retry after a lost answer sends the same PaymentMethod (and so the same key).
      let method = null;
      try { method = JSON.parse(sessionStorage.getItem(pendingKey(booking.booking_id)))?.method || null; } catch { /* none */ }
      if (!method) {
        const result = await stripe.createPaymentMethod({ type: "card", card });
        if (result.error) throw Object.assign(new Error(result.error.message), { status: 400, code: result.error.code || "CARD_ERROR" });
        method = result.paymentMethod.id;
      }
      const after = await pay(booking, method);
      if (onPaid) onPaid(after);
    });
  });
  return form;
}
