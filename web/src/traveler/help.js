// Help: the FAQ (GET /faq) for everyone and, for signed-in travelers, their support cases
// (GET /me/support/cases, POST /support/cases); one case's thread with a reply form and
// "Mark resolved" (GET /support/cases/{id}, POST .../messages, POST .../resolve).
import { api } from "../api.js";
import { link } from "../router.js";
import { session } from "../session.js";
import { busy, errorBox, field, formatInstant, formValues, h, loading, mount, notice, pagedList, statusBadge } from "../ui.js";

// The FAQ's topics in words; a topic the API adds later reads as its own name.
const TOPICS = {
  payment_safety: "Paying safely",
  booking_problems: "Problems while booking",
  cancellations_and_refunds: "Cancellations and refunds",
  quality_complaints: "Quality complaints",
};

function topicName(topic) {
  if (TOPICS[topic]) return TOPICS[topic];
  const words = String(topic || "Other").replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const CASE_STATUS = {
  OPEN: "Waiting for an agent",
  WAITING_ON_TRAVELER: "Answered: waiting for you",
  RESOLVED: "Resolved",
};

// "Ask for help with this booking": the help page's case form with the booking chosen.
export function caseLink(booking) {
  return h("a", { href: link("/help", { booking_id: booking.booking_id }), class: "help-link" },
    "Ask for help with this booking");
}

function faqSection() {
  const section = h("section", { "aria-labelledby": "faq-heading" },
    h("h2", { id: "faq-heading" }, "Frequently asked questions"), loading("Loading the FAQ…"));
  api.get("/faq").then((data) => {
    const groups = new Map();
    for (const entry of data.entries || []) {
      if (!groups.has(entry.topic)) groups.set(entry.topic, []);
      groups.get(entry.topic).push(entry);
    }
    const parts = [];
    for (const [topic, entries] of groups) {
      parts.push(h("div", { class: "card faq-topic" },
        h("h3", { style: { marginTop: 0 } }, topicName(topic)),
        entries.map((entry) => h("details", {},
          h("summary", {}, entry.question),
          h("p", { style: { whiteSpace: "pre-line" } }, entry.answer)))));
    }
    mount(section, h("h2", { id: "faq-heading" }, "Frequently asked questions"),
      parts.length ? parts : h("p", { class: "empty" }, "No questions answered yet."));
  }).catch((err) => {
    mount(section, h("h2", { id: "faq-heading" }, "Frequently asked questions"), errorBox(err));
  });
  return section;
}

function caseItem(item) {
  return h("li", {},
    h("a", { href: link(`/help/cases/${encodeURIComponent(item.case_id)}`) }, item.subject), " ",
    statusBadge(item.status), " ",
    h("span", { class: "muted" }, CASE_STATUS[item.status] || ""),
    h("div", { class: "muted" },
      item.booking_reference ? `Booking ${item.booking_reference} · ` : "",
      `${item.message_count} ${item.message_count === 1 ? "message" : "messages"} · updated ${formatInstant(item.updated_at)}`));
}

function bookingLabel(booking) {
  const titles = (booking.items || []).map((item) => item.title).filter(Boolean).join(" + ");
  return `${booking.reference || booking.booking_id} · ${booking.status}${titles ? ` · ${titles}` : ""}`;
}

function caseForm(query, navigate) {
  const chosen = query.booking_id || "";
  const bookingSelect = h("select", { name: "booking_id" },
    h("option", { value: "" }, "No booking: a general question"),
    chosen ? h("option", { value: chosen, selected: true }, `Booking ${chosen}`) : null);
  const bookingHint = h("small", { class: "hint", id: "case-booking-hint" }, "Loading your bookings…");
  bookingSelect.setAttribute("aria-describedby", "case-booking-hint");
  const form = h("form", { class: "card", novalidate: true },
    field("Subject", h("input", { name: "subject", required: true, maxlength: 200 })),
    field("Message", h("textarea", { name: "message", required: true, rows: 5 }),
      "Tell us what happened. Never write a card number here."),
    h("div", { class: "field" }, h("label", { for: "case-booking" }, "Booking (optional)"),
      Object.assign(bookingSelect, { id: "case-booking" }), bookingHint),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Open the case")));

  api.get("/me/bookings", { limit: 100 }).then((data) => {
    const bookings = data.bookings || [];
    for (const booking of bookings) {
      const existing = [...bookingSelect.options].find((option) => option.value === booking.booking_id);
      if (existing) existing.textContent = bookingLabel(booking);
      else bookingSelect.append(h("option", { value: booking.booking_id, selected: booking.booking_id === chosen }, bookingLabel(booking)));
    }
    bookingHint.textContent = bookings.length
      ? "Choosing the booking shows the agent its reference and history."
      : "You have no bookings yet.";
  }).catch((err) => {
    bookingHint.textContent = "";
    bookingHint.replaceWith(errorBox(err));
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues(form);
    const body = { subject: values.subject || "", message: values.message || "" };
    if (values.booking_id) body.booking_id = values.booking_id;
    busy(form.querySelector("button[type=submit]"), form, async () => {
      const created = await api.post("/support/cases", body);
      navigate(`/help/cases/${encodeURIComponent(created.case_id)}`);
    });
  });
  return form;
}

function helpPage(view, { query, navigate }) {
  const parts = [h("h1", {}, "Help and FAQ"),
    h("p", {}, "Answers to common questions first; if they do not help, open a support case and an agent answers you here and by email."),
    faqSection()];
  if (session.signedIn() && session.hasRole("travelers")) {
    parts.push(
      h("section", { "aria-labelledby": "cases-heading" },
        h("h2", { id: "cases-heading" }, "My support cases"),
        pagedList(async (cursor) => {
          const page = await api.get("/me/support/cases", { cursor });
          return { items: page.cases || [], next_cursor: page.next_cursor };
        }, caseItem, { empty: "You have no support cases." })),
      h("section", { "aria-labelledby": "new-case-heading" },
        h("h2", { id: "new-case-heading" }, "Open a support case"),
        caseForm(query, navigate)));
  } else if (session.signedIn()) {
    if (session.hasRole("agents")) parts.push(h("p", {}, "Agents answer cases from the ", h("a", { href: "#/agent" }, "agent desk"), "."));
  } else {
    parts.push(h("section", { "aria-labelledby": "cases-heading" },
      h("h2", { id: "cases-heading" }, "Still need help?"),
      h("p", {}, h("a", { href: link("/signin", { next: `/help${query.booking_id ? `?booking_id=${encodeURIComponent(query.booking_id)}` : ""}` }) },
        "Sign in to open a support case"), " and follow its answers.")));
  }
  mount(view, ...parts);
}

function fromLabel(from, viewerIsTraveler) {
  if (from === "traveler") return viewerIsTraveler ? "You" : "Traveler";
  if (from === "agent") return viewerIsTraveler ? "Itinera support" : "Agent";
  return "Itinera";
}

function casePage(view, { params }) {
  const caseId = params.id;
  const viewerIsTraveler = !session.hasRole("agents");

  function show(theCase, message) {
    const thread = h("ol", { class: "timeline", "aria-label": "Messages" },
      (theCase.messages || []).map((item) => h("li", { class: `message from-${item.from}` },
        h("div", {}, h("strong", {}, fromLabel(item.from, viewerIsTraveler)), " ",
          h("span", { class: "muted" }, h("time", { datetime: item.at }, formatInstant(item.at)))),
        h("p", { style: { whiteSpace: "pre-wrap", margin: "0.2rem 0 0", overflowWrap: "anywhere" } }, item.body))));

    const actions = [];
    if (theCase.status !== "RESOLVED") {
      const reply = h("form", { class: "card", novalidate: true, "aria-labelledby": "reply-heading" },
        h("h2", { id: "reply-heading", style: { marginTop: 0 } }, "Reply"),
        field("Your message", h("textarea", { name: "body", required: true, rows: 4 })),
        h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Send reply")));
      reply.addEventListener("submit", (event) => {
        event.preventDefault();
        busy(reply.querySelector("button[type=submit]"), reply, async () => {
          const updated = await api.post(`/support/cases/${encodeURIComponent(caseId)}/messages`,
            { body: formValues(reply).body || "" });
          show(updated, "Your message was sent.");
        });
      });
      const resolveBox = h("div", { class: "actions" });
      const resolve = h("button", { type: "button", class: "secondary" }, "Mark resolved");
      resolve.addEventListener("click", () => busy(resolve, resolveBox, async () => {
        const updated = await api.post(`/support/cases/${encodeURIComponent(caseId)}/resolve`, {});
        show(updated, "The case is resolved.");
      }));
      resolveBox.append(resolve);
      actions.push(reply, resolveBox);
    } else {
      actions.push(h("p", {}, "This case is resolved. ",
        viewerIsTraveler ? h("a", { href: link("/help", theCase.booking_id ? { booking_id: theCase.booking_id } : {}) }, "Open a new case") : null,
        viewerIsTraveler ? " if you need more help." : null));
    }

    mount(view,
      h("h1", {}, theCase.subject),
      message ? notice(message) : null,
      h("p", {}, statusBadge(theCase.status), " ", CASE_STATUS[theCase.status] || "", " · opened ",
        formatInstant(theCase.created_at)),
      theCase.booking_id
        ? h("p", {}, "About booking ",
          viewerIsTraveler
            ? h("a", { href: link(`/bookings/${encodeURIComponent(theCase.booking_id)}`) }, theCase.booking_reference || theCase.booking_id)
            : h("strong", {}, theCase.booking_reference || theCase.booking_id))
        : null,
      h("section", { "aria-labelledby": "thread-heading" }, h("h2", { id: "thread-heading" }, "Messages"), thread),
      actions,
      viewerIsTraveler ? h("p", {}, h("a", { href: "#/help" }, "All my support cases")) : null);
  }

  return api.get(`/support/cases/${encodeURIComponent(caseId)}`).then((theCase) => show(theCase))
    .catch((err) => {
      mount(view, h("h1", {}, "Support case"), errorBox(err),
        h("p", {}, h("a", { href: "#/help" }, "Back to help")));
    });
}

export const routes = [
  { pattern: "/help", title: "Help and FAQ", render: helpPage },
  { pattern: "/help/cases/:id", title: "Support case", role: "signed-in", render: casePage },
];
