// #/vendor/promotions: the vendor's promotion codes (GET /vendor/promotions) and the form that
// creates one (POST /vendor/promotions): a percentage or an amount off, a validity window, usage
// limits, and a scope (all the vendor's listings, one listing, or one kind).
import { api } from "../api.js";
import {
  addDays, busy, field, formatInstant, formValues, h, isoDay, money, mount, notice, select, toMinor,
} from "../ui.js";
import { allPages, KINDS, kindLabel, pagedTable } from "./common.js";

function discountText(promotion) {
  if (promotion.percent_off) return `${promotion.percent_off}% off`;
  if (promotion.amount_off && promotion.currency) return `${money({ amount: promotion.amount_off, currency: promotion.currency })} off`;
  return "—";
}

function row(titles, promotion) {
  let scope = "All your listings";
  if (promotion.listing_id) scope = `Listing: ${titles[promotion.listing_id] || promotion.listing_id}`;
  else if (promotion.kind) scope = `Kind: ${kindLabel(promotion.kind)}`;
  return h("tr", {},
    h("td", {}, h("strong", {}, promotion.code)),
    h("td", {}, discountText(promotion)),
    h("td", {}, scope),
    h("td", {}, formatInstant(promotion.valid_from)),
    h("td", {}, formatInstant(promotion.valid_to)),
    h("td", {}, `${promotion.uses} of ${promotion.max_uses}`),
    h("td", {}, String(promotion.max_uses_per_traveler)));
}

function createForm(listings, onCreated) {
  const discountBox = h("div");
  const scopeBox = h("div");
  const discountType = select("discount_type", [["percent", "Percentage off"], ["amount", "Amount off"]], "percent");
  const scope = select("scope", [["all", "All my listings"], ["listing", "One listing"], ["kind", "One kind of listing"]], "all");
  function showDiscount() {
    if (discountType.value === "percent") {
      mount(discountBox, field("Percent off", h("input", { name: "percent_off", type: "number", min: "1", max: "100", step: "1", required: true })));
    } else {
      mount(discountBox, h("div", { class: "row" },
        field("Amount off", h("input", { name: "amount_off", inputmode: "decimal", required: true }), "In major units, e.g. 15.00"),
        field("Currency", h("input", { name: "currency", value: listings[0]?.currency || "EUR", maxlength: "3", style: { textTransform: "uppercase" } }),
          "Of the amount; with one listing, its currency is used")));
    }
  }
  function showScope() {
    if (scope.value === "listing") {
      mount(scopeBox, field("Listing", select("listing_id", listings.map((listing) => [listing.listing_id, listing.title]), listings[0]?.listing_id)));
    } else if (scope.value === "kind") {
      mount(scopeBox, field("Kind", select("kind", KINDS, "hotel")));
    } else {
      mount(scopeBox);
    }
  }
  discountType.addEventListener("change", showDiscount);
  scope.addEventListener("change", showScope);
  showDiscount();
  showScope();
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "new-promotion-heading" },
    h("h2", { id: "new-promotion-heading", style: { marginTop: 0 } }, "New promotion"),
    h("div", { class: "row" },
      field("Code", h("input", { name: "code", required: true, maxlength: "40", pattern: "[A-Za-z0-9_-]{3,40}", style: { textTransform: "uppercase" } }),
        "3 to 40 letters, digits, - or _"),
      field("Discount", discountType)),
    discountBox,
    h("div", { class: "row" },
      field("Valid from", h("input", { name: "valid_from", type: "date", required: true, value: isoDay(0) }), "From the start of this day (UTC)"),
      field("Last valid day", h("input", { name: "valid_to", type: "date", required: true, value: isoDay(30) }), "Until the end of this day (UTC)")),
    h("div", { class: "row" },
      field("Uses in total", h("input", { name: "max_uses", type: "number", min: "1", step: "1", required: true, value: "100" })),
      field("Uses per traveler", h("input", { name: "max_uses_per_traveler", type: "number", min: "1", step: "1", required: true, value: "1" }))),
    field("Applies to", scope),
    scopeBox,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create promotion")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    form.querySelector(":scope > .notice")?.remove();
    const values = formValues(form);
    const body = {
      code: values.code || "",
      valid_from: values.valid_from ? `${values.valid_from}T00:00:00Z` : "",
      valid_to: values.valid_to ? `${addDays(values.valid_to, 1)}T00:00:00Z` : "",
      max_uses: Number.parseInt(values.max_uses ?? "", 10),
      max_uses_per_traveler: Number.parseInt(values.max_uses_per_traveler ?? "", 10),
    };
    if (discountType.value === "percent") {
      body.percent_off = Number.parseInt(values.percent_off ?? "", 10);
    } else {
      const listing = scope.value === "listing" ? listings.find((item) => item.listing_id === values.listing_id) : null;
      const currency = (listing ? listing.currency : values.currency || "EUR").toUpperCase();
      body.amount_off = toMinor(values.amount_off ?? "", currency);
      body.currency = currency;
    }
    if (scope.value === "listing" && values.listing_id) body.listing_id = values.listing_id;
    if (scope.value === "kind" && values.kind) body.kind = values.kind;
    // Numbers the browser could not read go as they are typed: the API names the bad field.
    for (const key of ["max_uses", "max_uses_per_traveler", "percent_off", "amount_off"]) {
      if (key in body && !Number.isFinite(body[key])) body[key] = values[key] ?? null;
    }
    busy(form.querySelector("button[type=submit]"), form, async () => {
      const created = await api.post("/vendor/promotions", body);
      form.reset();
      showDiscount();
      showScope();
      form.prepend(notice(`Promotion ${created.code} created.`));
      onCreated(created);
    });
  });
  return form;
}

export async function promotionsPage(view) {
  let listings = [];
  let listingsError = null;
  try {
    listings = await allPages((cursor) => api.get("/vendor/listings", { cursor, limit: 100 }), "listings");
  } catch (err) {
    listingsError = err;
  }
  const titles = Object.fromEntries(listings.map((listing) => [listing.listing_id, listing.title]));
  const tableBox = h("section", { "aria-labelledby": "promotions-heading" });
  function showTable() {
    mount(tableBox, h("h2", { id: "promotions-heading" }, "Your promotions"),
      pagedTable(["Code", "Discount", "Applies to", "Valid from", "Valid until", "Uses", "Per traveler"], async (cursor) => {
        const page = await api.get("/vendor/promotions", { cursor, limit: 20 });
        return { items: page.promotions || [], next_cursor: page.next_cursor };
      }, (promotion) => row(titles, promotion), { empty: "No promotions yet.", label: "Promotions" }));
  }
  showTable();
  const form = createForm(listings, showTable);
  if (listingsError) form.prepend(notice(`Your listings could not be loaded (${listingsError.message}); only "All my listings" and "One kind" scopes work now.`, "warn"));
  mount(view, h("h1", {}, "Promotions"), form, tableBox);
}
