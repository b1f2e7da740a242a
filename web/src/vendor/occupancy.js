// The occupancy picture of one month: an inline SVG bar chart, one bar per day, its height the
// day's capacity and its filled part what is held or sold (capacity - available). Each bar names
// its date, booked units, availability and price in an aria-label and a <title>, so the picture
// reads as well with a screen reader as it looks.
import { api } from "../api.js";
import { addDays, formatDate, h, mount, money, showError } from "../ui.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2).toLowerCase(), value);
    else element.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// "2027-01" -> {first: "2027-01-01", last: "2027-01-31", days: 31}
export function monthRange(month) {
  const [y, m] = month.split("-").map(Number);
  const first = `${month}-01`;
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return { first, last: addDays(first, days - 1), days };
}

export function shiftMonth(month, delta) {
  const [y, m] = month.split("-").map(Number);
  const date = new Date(Date.UTC(y, m - 1 + delta, 1));
  return date.toISOString().slice(0, 7);
}

export function monthName(month) {
  const [y, m] = month.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, 1)).toLocaleDateString(undefined, { timeZone: "UTC", month: "long", year: "numeric" });
}

export function dayLabel(date, day) {
  if (!day) return `${formatDate(date)}: no availability set`;
  const booked = Math.max(0, day.capacity - day.available);
  const state = day.capacity === 0 ? "closed" : day.available <= 0 ? "full" : `${day.available} available`;
  return `${formatDate(date)}: ${state}, ${booked} of ${day.capacity} booked, ${money(day.price)} per unit`;
}

// The chart for the given days (the API's), covering every date of the month.
function chart(month, byDate, onPick) {
  const { first, days } = monthRange(month);
  const slot = 24;
  const barWidth = 18;
  const top = 18;
  const plot = 150;
  const width = days * slot + 8;
  const height = top + plot + 26;
  const maxCapacity = Math.max(1, ...Object.values(byDate).map((day) => day.capacity));
  const bars = [];
  for (let i = 0; i < days; i += 1) {
    const date = addDays(first, i);
    const day = byDate[date];
    const x = 4 + i * slot + (slot - barWidth) / 2;
    const label = dayLabel(date, day);
    const parts = [s("title", {}, label)];
    if (!day) {
      parts.push(s("rect", { x, y: top + plot - 4, width: barWidth, height: 4, fill: "#c9d1db" }));
    } else {
      const full = day.capacity > 0 && day.available <= 0;
      const capHeight = Math.max(2, (day.capacity / maxCapacity) * plot);
      const booked = Math.max(0, day.capacity - day.available);
      const bookedHeight = day.capacity ? (Math.min(booked, day.capacity) / maxCapacity) * plot : 0;
      parts.push(s("rect", { x, y: top + plot - capHeight, width: barWidth, height: capHeight, fill: "#e6eef7", stroke: "#7b8794", "stroke-width": 1 }));
      if (bookedHeight > 0) {
        parts.push(s("rect", { x, y: top + plot - bookedHeight, width: barWidth, height: bookedHeight, fill: full ? "#a4161a" : "#0b5394" }));
      }
    }
    const dayNumber = i + 1;
    if (dayNumber === 1 || dayNumber % 5 === 0) {
      parts.push(s("text", { x: x + barWidth / 2, y: top + plot + 18, "text-anchor": "middle", "font-size": 13, fill: "#4a5563" }, String(dayNumber)));
    }
    bars.push(s("g", {
      role: "img", "aria-label": label, "data-date": date,
      "data-capacity": day ? day.capacity : "", "data-booked": day ? Math.max(0, day.capacity - day.available) : "",
      "data-full": day && day.capacity > 0 && day.available <= 0 ? "true" : "false",
      style: "cursor: pointer", onclick: () => onPick && onPick(date, day),
    }, parts));
  }
  return s("svg", {
    viewBox: `0 0 ${width} ${height}`, width: "100%", role: "group", class: "occupancy-chart",
    "aria-label": `Occupancy per day, ${monthName(month)}: bar height is capacity, the filled part is booked`,
    preserveAspectRatio: "xMinYMin meet", style: "min-width: 34rem; max-height: 16rem; display: block",
  },
  s("line", { x1: 0, y1: top + plot, x2: width, y2: top + plot, stroke: "#4a5563", "stroke-width": 1 }),
  s("text", { x: 4, y: 12, "font-size": 12, fill: "#4a5563" }, `capacity up to ${maxCapacity}`),
  bars);
}

export function summaryText(month, days) {
  const { days: count } = monthRange(month);
  const open = days.filter((day) => day.capacity > 0);
  if (!open.length) return `No dates on sale in ${monthName(month)} (0 of ${count} days have capacity).`;
  const busy = open.filter((day) => (day.capacity - day.available) / day.capacity > 0.8).length;
  const full = open.filter((day) => day.available <= 0).length;
  const capacity = open.reduce((sum, day) => sum + day.capacity, 0);
  const booked = open.reduce((sum, day) => sum + Math.max(0, day.capacity - day.available), 0);
  return `${busy} of ${open.length} days on sale over 80% full, ${full} full; ${booked} of ${capacity} units booked in ${monthName(month)}.`;
}

function legend() {
  const swatch = (color, border) => h("span", {
    "aria-hidden": "true",
    style: { display: "inline-block", width: "0.9rem", height: "0.9rem", background: color, border: `1px solid ${border || color}`, verticalAlign: "middle", marginRight: "0.3rem" },
  });
  return h("p", { class: "muted" },
    h("span", { style: { marginRight: "1rem", whiteSpace: "nowrap" } }, swatch("#e6eef7", "#7b8794"), "capacity"),
    h("span", { style: { marginRight: "1rem", whiteSpace: "nowrap" } }, swatch("#0b5394"), "booked (held or sold)"),
    h("span", { style: { marginRight: "1rem", whiteSpace: "nowrap" } }, swatch("#a4161a"), "full"),
    h("span", { style: { whiteSpace: "nowrap" } }, swatch("#c9d1db"), "no availability set"));
}

// The section: month navigation, the chart, its summary. Returns {element, load(month?), month()}.
export function occupancyView(listingId, initialMonth, { onPick } = {}) {
  let month = initialMonth;
  let seq = 0;
  const heading = h("h3", { style: { margin: "0 0.5rem" }, "aria-live": "polite" }, monthName(month));
  const previous = h("button", { type: "button", onclick: () => load(shiftMonth(month, -1)) }, "Previous month");
  const next = h("button", { type: "button", onclick: () => load(shiftMonth(month, 1)) }, "Next month");
  // On a phone the chart keeps readable bars and scrolls sideways inside its own box.
  const picture = h("div", { class: "occupancy table-wrap", tabindex: "0", role: "region", "aria-label": "Occupancy chart" });
  const summary = h("p", { class: "occupancy-summary", role: "status", "aria-live": "polite" });
  const element = h("div", {},
    h("div", { class: "row", style: { alignItems: "center", marginBottom: "0.5rem" } }, previous, heading, next),
    picture, summary, legend(),
    h("p", { class: "muted" }, "Select a bar to fill the form above with that day."));

  async function load(target = month) {
    month = target;
    const mine = ++seq;
    heading.textContent = monthName(month);
    picture.setAttribute("aria-busy", "true");
    const { first, last } = monthRange(month);
    try {
      const data = await api.get(`/listings/${encodeURIComponent(listingId)}/availability`, { from: first, to: last });
      if (mine !== seq) return;
      const days = data.days || [];
      const byDate = Object.fromEntries(days.map((day) => [day.date, day]));
      mount(picture, chart(month, byDate, onPick));
      summary.textContent = summaryText(month, days);
    } catch (err) {
      if (mine !== seq) return;
      mount(picture);
      summary.textContent = "";
      showError(picture, err);
    } finally {
      if (mine === seq) picture.removeAttribute("aria-busy");
    }
  }
  return { element, load, month: () => month };
}
