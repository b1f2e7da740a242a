// Support cases for agents: the queue (GET /agent/cases?status=, oldest waiting first) and one
// case's thread with the answer form and Resolve (GET /support/cases/{id},
// POST /support/cases/{id}/messages, POST /support/cases/{id}/resolve).
import { api } from "../api.js";
import { link } from "../router.js";
import { busy, errorBox, field, formatInstant, h, mount, notice, pagedList, select, statusBadge } from "../ui.js";

const STATUSES = [
  ["OPEN", "Open: waiting on an agent"],
  ["WAITING_ON_TRAVELER", "Waiting on the traveler"],
  ["RESOLVED", "Resolved"],
];
const FROM = { traveler: "Traveler", agent: "Agent", system: "Itinera" };

// How long ago an instant was, in words: "5 min", "3 h 10 min", "2 days".
export function age(iso, now = Date.now()) {
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(seconds)) return "";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 1) return "under a minute";
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} days`;
}

function caseRow(item) {
  return h("li", {},
    h("div", {}, h("a", { href: link(`/agent/cases/${encodeURIComponent(item.case_id)}`), style: { fontWeight: "700" } },
      item.subject)),
    h("div", { class: "row muted", style: { alignItems: "center", gap: "0.25rem 1rem" } },
      statusBadge(item.status),
      h("span", {}, h("time", { datetime: item.waiting_since, title: formatInstant(item.waiting_since) },
        `waiting ${age(item.waiting_since)}`)),
      item.booking_reference
        ? h("span", {}, "booking ", h("strong", {}, item.booking_reference), " ",
          item.booking_status ? statusBadge(item.booking_status) : null)
        : h("span", {}, "no booking"),
      h("span", {}, `${item.message_count} message${item.message_count === 1 ? "" : "s"}`)));
}

function queue(view, { query, navigate }) {
  const status = STATUSES.some(([value]) => value === query.status) ? query.status : "OPEN";
  const filter = select("status", STATUSES, status);
  const form = h("form", { class: "card" },
    h("div", { class: "row" },
      field("Status", filter),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Show"))));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate("/agent/cases", { status: filter.value });
  });
  filter.addEventListener("change", () => navigate("/agent/cases", { status: filter.value }));
  mount(view, h("h1", {}, "Support cases"),
    form,
    h("p", { class: "muted" }, "Oldest waiting first."),
    pagedList(async (cursor) => {
      const page = await api.get("/agent/cases", { status, cursor, limit: 20 });
      return { items: page.cases || [], next_cursor: page.next_cursor };
    }, caseRow, { empty: "No case in this queue." }));
}

function thread(messages) {
  if (!messages.length) return h("p", { class: "empty" }, "No messages.");
  return h("ol", { class: "list", "aria-label": "Messages" }, messages.map((message) => h("li", {
    style: message.from === "agent" ? { borderLeft: "4px solid var(--brand)", paddingLeft: "0.75rem" } : {},
  },
  h("div", {}, h("strong", {}, FROM[message.from] || message.from), " ",
    h("time", { class: "muted", datetime: message.at }, formatInstant(message.at))),
  h("p", { style: { whiteSpace: "pre-wrap", margin: "0.3rem 0 0" } }, message.body))));
}

function caseView(view, { params }) {
  const id = params.id;
  const path = `/support/cases/${encodeURIComponent(id)}`;
  const heading = h("h1", {}, "Support case");
  const flash = h("div", { "aria-live": "polite" });
  const body = h("div", {});
  mount(view, heading, h("p", {}, h("a", { href: link("/agent/cases") }, "← Support cases")), flash, body);

  function show(item) {
    heading.textContent = item.subject;
    document.title = `${item.subject} · Itinera`;
    const answer = h("textarea", { name: "body", maxlength: 5000, required: true });
    const send = h("button", { type: "submit", class: "primary" }, "Send answer");
    const form = h("form", { class: "card", novalidate: true },
      field("Your answer", answer, "The traveler is emailed; the case then waits on them."),
      h("div", { class: "actions" }, send));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = answer.value.trim();
      if (!text) {
        form.querySelector(":scope > .error")?.remove();
        form.prepend(errorBox({ message: "Write an answer first." }));
        answer.focus();
        return;
      }
      busy(send, form, async () => {
        const updated = await api.post(`${path}/messages`, { body: text });
        flash.replaceChildren(notice("Answer sent: the case is waiting on the traveler."));
        show(updated);
      });
    });
    const resolve = h("button", { type: "button", class: "secondary" }, "Resolve");
    const resolveBox = h("div", { class: "actions" }, resolve);
    resolve.addEventListener("click", () => busy(resolve, resolveBox, async () => {
      const updated = await api.post(`${path}/resolve`, {});
      flash.replaceChildren(notice("The case is resolved."));
      show(updated);
    }));
    const open = item.status !== "RESOLVED";
    mount(body,
      h("p", { class: "row", style: { alignItems: "center", gap: "0.5rem 1rem" } },
        statusBadge(item.status),
        h("span", { class: "muted" }, `Opened ${formatInstant(item.created_at)}`),
        item.booking_id
          ? h("a", { href: link(`/agent/bookings/${encodeURIComponent(item.booking_id)}`) },
            `Booking ${item.booking_reference || item.booking_id} on the desk`)
          : h("span", { class: "muted" }, "No booking attached")),
      h("h2", {}, "Thread"),
      thread(item.messages || []),
      open ? form : h("p", { class: "muted" }, "This case is resolved."),
      open ? resolveBox : null);
  }

  return api.get(path).then(show, (err) => mount(body, errorBox(err)));
}

export const routes = [
  { pattern: "/agent/cases", title: "Support cases", role: "agents", render: queue },
  { pattern: "/agent/cases/:id", title: "Support case", role: "agents", render: caseView },
];
