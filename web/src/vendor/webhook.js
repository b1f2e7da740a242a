// #/vendor/webhook: the vendor's webhook endpoint (GET/PUT/DELETE /vendor/webhook), its secret
// (shown once, by PUT and rotate), recent deliveries, and replay since an instant.
import { api } from "../api.js";
import {
  busy, errorBox, field, formatInstant, h, mount, notice, statusBadge,
} from "../ui.js";
import { pagedTable } from "./common.js";

function secretNotice(secret) {
  return h("div", { class: "notice warn", role: "status" },
    h("strong", {}, "Your signing secret (shown only now):"),
    h("p", { style: { margin: "0.4rem 0" } },
      h("code", { class: "webhook-secret", style: { wordBreak: "break-all", userSelect: "all" } }, secret)),
    h("p", { style: { margin: 0 } },
      "Store it now in your receiver's configuration: it is not shown again. ",
      "Verify each event's webhook-signature with it (Standard Webhooks)."));
}

function deliveryRow(delivery) {
  return h("tr", {},
    h("td", {}, delivery.type),
    h("td", {}, h("code", {}, delivery.booking_id), h("div", { class: "muted" }, `#${delivery.sequence}`)),
    h("td", {}, statusBadge(delivery.outcome),
      delivery.last_error ? h("div", { class: "muted" }, delivery.last_error) : null),
    h("td", {}, delivery.last_status_code ?? "—"),
    h("td", {}, String(delivery.attempts), delivery.replays ? h("div", { class: "muted" }, `${delivery.replays} replay(s)`) : null),
    h("td", {}, formatInstant(delivery.created_at)),
    h("td", {}, delivery.last_attempt_at ? formatInstant(delivery.last_attempt_at) : "—"));
}

// datetime-local "2027-01-02T10:00" (the browser's time zone) -> ISO UTC instant.
function localToIso(value) {
  const when = new Date(value);
  return Number.isNaN(when.getTime()) ? value : when.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function isoToLocal(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export async function webhookPage(view) {
  const secretBox = h("div");
  const endpointBox = h("section", { class: "card", "aria-labelledby": "endpoint-heading" });
  const deliveriesBox = h("div");

  function showDeliveries() {
    mount(deliveriesBox, pagedTable(["Event", "Booking", "Outcome", "Status code", "Attempts", "Created", "Last attempt"], async (cursor) => {
      const page = await api.get("/vendor/webhook/deliveries", { cursor, limit: 20 });
      return { items: page.deliveries || [], next_cursor: page.next_cursor };
    }, deliveryRow, { empty: "No events yet.", label: "Deliveries" }));
  }

  function urlForm(current) {
    const input = h("input", { name: "url", type: "url", required: true, value: current ? current.url : "", placeholder: "https://example.com/itinera-events" });
    const form = h("form", { novalidate: true },
      field("Endpoint URL", input, "Receives booking.confirmed, booking.cancelled and booking.refunded events (https; http://127.0.0.1 on the local stage)."),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, current ? "Change URL" : "Set webhook URL")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(form.querySelector("button[type=submit]"), form, async () => {
        const saved = await api.put("/vendor/webhook", { url: input.value.trim() });
        mount(secretBox, saved.secret ? secretNotice(saved.secret) : notice("Webhook URL saved."));
        showEndpoint(saved);
      });
    });
    return form;
  }

  function showEndpoint(hook) {
    const heading = h("h2", { id: "endpoint-heading", style: { marginTop: 0 } }, "Endpoint");
    if (!hook) {
      mount(endpointBox, heading, h("p", {}, "No webhook is set up yet."), urlForm(null));
      return;
    }
    const rotate = h("button", { type: "button" }, "Rotate secret");
    const remove = h("button", { type: "button", class: "danger" }, "Remove webhook");
    const actions = h("div", { class: "actions" }, rotate, remove);
    rotate.addEventListener("click", () => busy(rotate, endpointBox, async () => {
      const rotated = await api.post("/vendor/webhook/rotate", {});
      mount(secretBox, rotated.secret ? secretNotice(rotated.secret) : notice("Secret rotated."));
      showEndpoint(rotated);
    }));
    remove.addEventListener("click", () => {
      // A second, explicit step instead of a browser dialog.
      const yes = h("button", { type: "button", class: "danger" }, "Yes, remove it");
      const no = h("button", { type: "button", onclick: () => showEndpoint(hook) }, "Keep it");
      mount(actions, h("p", { role: "status", style: { margin: 0, alignSelf: "center" } }, "Stop sending events to this URL?"), yes, no);
      yes.focus();
      yes.addEventListener("click", () => busy(yes, endpointBox, async () => {
        await api.del("/vendor/webhook");
        mount(secretBox, notice("Webhook removed: no more events are sent."));
        showEndpoint(null);
      }));
    });
    mount(endpointBox, heading,
      h("dl", {},
        h("dt", {}, "URL"), h("dd", {}, h("code", { style: { wordBreak: "break-all" } }, hook.url)),
        h("dt", {}, "Set up"), h("dd", {}, formatInstant(hook.created_at)),
        h("dt", {}, "Last changed"), h("dd", {}, formatInstant(hook.updated_at)),
        hook.previous_secret_expires_at ? [h("dt", {}, "Previous secret signs until"), h("dd", {}, formatInstant(hook.previous_secret_expires_at))] : null),
      actions,
      urlForm(hook));
  }

  const since = h("input", { name: "since", type: "datetime-local", required: true, value: isoToLocal(new Date(Date.now() - 24 * 3600 * 1000)) });
  const replayStatus = h("div", { "aria-live": "polite" });
  const replay = h("form", { novalidate: true, "aria-labelledby": "replay-heading" },
    h("h3", { id: "replay-heading" }, "Replay events"),
    h("div", { class: "row" },
      field("Send again every event since", since, "Your local time."),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Replay"))),
    replayStatus);
  replay.addEventListener("submit", (event) => {
    event.preventDefault();
    mount(replayStatus);
    if (!since.value) {
      mount(replayStatus, errorBox({ code: "VALIDATION_ERROR", message: "Choose the instant to replay from." }));
      return;
    }
    busy(replay.querySelector("button[type=submit]"), replayStatus, async () => {
      const result = await api.post("/vendor/webhook/replay", { since: localToIso(since.value) });
      mount(replayStatus, notice(`Replay accepted: events from ${formatInstant(result.since)} to ${formatInstant(result.until)} are being sent again.`));
      showDeliveries();
    });
  });

  let hook = null;
  let loadError = null;
  try {
    hook = await api.get("/vendor/webhook");
  } catch (err) {
    if (err.status !== 404) loadError = err;
  }
  mount(view, h("h1", {}, "Webhook"),
    h("p", { class: "muted" }, "Itinera posts your bookings' events to your system, signed with your secret."),
    secretBox,
    loadError ? errorBox(loadError) : endpointBox,
    h("section", { class: "card", "aria-labelledby": "deliveries-heading" },
      h("h2", { id: "deliveries-heading", style: { marginTop: 0 } }, "Recent deliveries"),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: showDeliveries }, "Refresh")),
      deliveriesBox, replay));
  if (!loadError) showEndpoint(hook);
  showDeliveries();
}
