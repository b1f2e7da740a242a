// Helpers shared by the vendor pages.
import { h, showError } from "../ui.js";

export const KINDS = [["hotel", "Hotel room"], ["flight", "Flight"], ["event", "Event"], ["service", "Service"]];

export function kindLabel(kind) {
  const found = KINDS.find(([value]) => value === kind);
  return found ? found[1] : kind;
}

// "PAR" or "LIS → BCN"
export function placeOf(listing) {
  if (listing.kind === "flight" || (listing.origin && listing.destination)) {
    return `${listing.origin || "?"} → ${listing.destination || "?"}`;
  }
  return listing.city || "";
}

export function ratingText(rating) {
  if (!rating || !rating.count) return "No reviews yet";
  const average = typeof rating.average === "number" ? rating.average.toFixed(1) : "—";
  return `${average} ★ (${rating.count} review${rating.count === 1 ? "" : "s"})`;
}

// Every page of a cursor list (bounded): for choices such as "which listing".
export async function allPages(fetchPage, key, maxPages = 10) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i += 1) {
    const page = await fetchPage(cursor);
    items.push(...(page[key] || []));
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

// A table over the API's cursor pagination, with "Load more": fetchPage(cursor) -> {items, next_cursor};
// renderRow(item) -> <tr>.
export function pagedTable(headers, fetchPage, renderRow, { empty = "Nothing here yet.", caption, label = "Table" } = {}) {
  const body = h("tbody");
  const table = h("table", {}, caption ? h("caption", { class: "muted", style: { textAlign: "left" } }, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))), body);
  const more = h("button", { type: "button", class: "secondary" }, "Load more");
  const emptyNote = h("p", { class: "empty" }, empty);
  // The wrapper scrolls sideways on a phone: focusable so the keyboard can scroll it too.
  const wrapper = h("div", { class: "paged" }, h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": label }, table));
  let cursor = null;
  async function next() {
    more.disabled = true;
    try {
      const page = await fetchPage(cursor);
      for (const item of page.items) body.append(renderRow(item));
      cursor = page.next_cursor;
      if (!body.children.length) {
        table.hidden = true;
        wrapper.append(emptyNote);
      }
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

// Dates of an item: "2027-01-02" or "2027-01-02 → 2027-01-05".
export function itemDates(item) {
  if (item.check_in) return `${item.check_in} → ${item.check_out}`;
  return item.date || "";
}
