// Small DOM helpers shared by every page. Text is always set as text (never innerHTML), so what
// users and vendors typed can never run as markup.

// h("button", {class: "primary", onclick: fn, type: "submit"}, "Pay", ...) -> an element.
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      element.className = value;
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else if (key === "style" && typeof value === "object") {
      Object.assign(element.style, value);
    } else if (key in element && typeof value !== "string") {
      element[key] = value; // value, checked, disabled, selected as properties
    } else {
      element.setAttribute(key, value === true ? "" : value);
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replaces what a container shows.
export function mount(container, ...children) {
  container.replaceChildren();
  append(container, children);
  return container;
}

let fieldSeq = 0;

// A labelled form control: field("Email", h("input", {name: "email", type: "email"}), "hint").
export function field(label, control, hint) {
  const id = control.id || `f${++fieldSeq}`;
  control.id = id;
  const parts = [h("label", { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("small", { id: hintId, class: "hint" }, hint));
  }
  return h("div", { class: "field" }, parts);
}

export function select(name, options, value, props = {}) {
  return h("select", { name, ...props },
    options.map(([optionValue, text]) => h("option", { value: optionValue, selected: optionValue === value }, text)));
}

// Reads a form's named controls as strings (empty ones left out).
export function formValues(form) {
  const values = {};
  for (const [key, value] of new FormData(form).entries()) {
    if (typeof value === "string" && value.trim() !== "") values[key] = value.trim();
  }
  return values;
}

// The API's error as the user reads it: its message, the field details, and its code.
export function errorBox(err) {
  const details = err && err.details && typeof err.details === "object" ? err.details : {};
  const lines = [];
  const fields = details.fields || details.errors;
  if (Array.isArray(fields)) {
    for (const item of fields) {
      if (item && typeof item === "object") lines.push(`${item.field || item.loc || ""}: ${item.message || item.msg || ""}`.trim());
    }
  } else if (fields && typeof fields === "object") {
    for (const [name, message] of Object.entries(fields)) lines.push(`${name}: ${message}`);
  }
  return h("div", { class: "error", role: "alert" },
    h("strong", {}, (err && err.message) || "Something went wrong."),
    lines.length ? h("ul", {}, lines.map((line) => h("li", {}, line))) : null,
    err && err.code ? h("small", { class: "code" }, ` (${err.code})`) : null,
    err && err.requestId ? h("small", { class: "code" }, ` Request id: ${err.requestId}`) : null,
    err && err.code === "UNAUTHENTICATED" && err.status === 401 && !location.hash.startsWith("#/signin")
      ? h("p", {}, h("a", { href: `#/signin?next=${encodeURIComponent(location.hash.slice(1))}` }, "Sign in again")) : null);
}

// Shows an error at the top of a container (replacing an earlier one there).
export function showError(container, err) {
  container.querySelector(":scope > .error")?.remove();
  container.prepend(errorBox(err));
  // API and network errors are the user's to read; anything else is a bug worth a console line.
  if (!(err && err.code)) console.warn(err);
}

export function notice(text, kind = "ok") {
  return h("div", { class: `notice ${kind}`, role: "status" }, text);
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status", "aria-live": "polite" }, text);
}

// Decimals of each currency's minor unit (ISO 4217), as the service counts them
// (chalicelib/notify/templates.py _EXPONENTS; a test keeps the two equal). Not Intl's digits:
// browsers show HUF, IDR, COP... without decimals although their minor unit is 1/100.
const CURRENCY_EXPONENTS = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0,
  UGX: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
};

export function currencyDigits(currency) {
  return CURRENCY_EXPONENTS[currency] ?? 2;
}

// Money is integer minor units + currency (API.md): formatted in the browser's locale with the
// currency's own number of decimals. Never throws: an unknown code is shown as "12.50 XYZ".
export function money(value) {
  if (!value || typeof value.amount !== "number" || typeof value.currency !== "string") return "—";
  const digits = currencyDigits(value.currency);
  const major = value.amount / 10 ** digits;
  try {
    return new Intl.NumberFormat(undefined, {
      style: "currency", currency: value.currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(major);
  } catch {
    return `${major.toFixed(digits)} ${value.currency}`;
  }
}

// Minor units for an amount typed in major units ("12.50" EUR -> 1250, "1250" JPY -> 1250).
// Only digits with at most the currency's decimals (a dot or a comma before them): "1,000",
// "1e3", "0x10" or "12.345" EUR are NaN, never a different amount than the one meant.
export function toMinor(text, currency) {
  const digits = currencyDigits(currency);
  const pattern = digits ? new RegExp(`^(\\d+)(?:[.,](\\d{1,${digits}}))?$`) : /^(\d+)$/;
  const found = pattern.exec(String(text).trim());
  if (!found) return NaN;
  const minor = Number(found[1]) * 10 ** digits + Number((found[2] || "").padEnd(digits, "0") || 0);
  return Number.isSafeInteger(minor) ? minor : NaN;
}

export function fromMinor(amount, currency) {
  const digits = currencyDigits(currency);
  return (amount / 10 ** digits).toFixed(digits);
}

export function formatInstant(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? iso : when.toLocaleString();
}

export function formatDate(isoDate) {
  if (!isoDate) return "";
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(undefined, { timeZone: "UTC", day: "numeric", month: "short", year: "numeric" });
}

// Dates as the API writes them (YYYY-MM-DD), from today in UTC.
export function isoDay(offsetDays = 0) {
  const day = new Date();
  day.setUTCDate(day.getUTCDate() + offsetDays);
  return day.toISOString().slice(0, 10);
}

export function addDays(isoDate, days) {
  const [y, m, d] = isoDate.split("-").map(Number);
  const day = new Date(Date.UTC(y, m - 1, d + days));
  return day.toISOString().slice(0, 10);
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${String(status).toLowerCase()}` }, status);
}

// The service's clock minus this browser's (from the API's Date header, src/api.js): a hold
// expires by the service's clock, and a browser whose clock is off must not count to 0 early.
let clockOffsetMs = 0;

export function setServerClock(serverNowMs) {
  if (Number.isFinite(serverNowMs)) clockOffsetMs = serverNowMs - Date.now();
}

export function serverNow() {
  return Date.now() + clockOffsetMs;
}

// "mm:ss left" until an instant of the service's clock, updated every second; calls onDone
// once, when it has passed, and stops when the element leaves the page.
export function countdown(untilIso, onDone) {
  const element = h("span", { class: "countdown", role: "timer", "aria-live": "off" });
  const until = new Date(untilIso).getTime();
  let started = false;
  let timer = null;
  const tick = () => {
    if (started && !element.isConnected) {
      clearInterval(timer);
      return;
    }
    started = true;
    const left = Math.max(0, Math.round((until - serverNow()) / 1000));
    element.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")} left`;
    if (left === 0) {
      clearInterval(timer);
      if (onDone) onDone();
    }
  };
  tick();
  if (Math.round((until - serverNow()) / 1000) > 0) timer = setInterval(tick, 1000);
  return element;
}

// A "Load more" list over the API's cursor pagination: fetchPage(cursor) -> {items, next_cursor}.
export function pagedList(fetchPage, renderItem, { empty = "Nothing here yet.", container = "ul" } = {}) {
  const list = h(container, { class: "list" });
  const more = h("button", { type: "button", class: "secondary" }, "Load more");
  const wrapper = h("div", { class: "paged" }, list);
  let cursor = null;
  async function next() {
    more.disabled = true;
    try {
      const page = await fetchPage(cursor);
      for (const item of page.items) list.append(renderItem(item));
      cursor = page.next_cursor;
      if (!list.children.length && empty) wrapper.append(h("p", { class: "empty" }, empty));
      if (cursor) wrapper.append(more);
      else more.remove();
    } catch (err) {
      showError(wrapper, err);
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", next);
  next();
  return wrapper;
}

// Runs an async action from a button or form: disables it meanwhile and shows the API's error.
export async function busy(control, errorContainer, action) {
  control.disabled = true;
  control.setAttribute("aria-busy", "true");
  errorContainer.querySelector(":scope > .error")?.remove();
  try {
    return await action();
  } catch (err) {
    showError(errorContainer, err);
    return undefined;
  } finally {
    control.disabled = false;
    control.removeAttribute("aria-busy");
  }
}
