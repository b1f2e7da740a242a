// The administrator's page: vendors (GET /admin/vendors) and creating one (POST /admin/vendors),
// which makes the vendor's Cognito user; the local stage returns its temporary password, other
// stages have Cognito email it. The vendor's first sign-in asks for a new password.
import { api } from "../api.js";
import { pagedTable } from "../vendor/common.js";
import { busy, field, formatInstant, formValues, h, mount, notice } from "../ui.js";

function createForm(onCreated) {
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", novalidate: true },
    h("h2", {}, "New vendor"),
    h("div", { class: "row" },
      field("Vendor name", h("input", { name: "name", required: true, autocomplete: "organization" })),
      field("Sign-in email", h("input", { name: "email", type: "email", required: true, autocomplete: "off" }))),
    h("button", { type: "submit", class: "primary" }, "Create vendor"),
    result);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues(form);
    busy(form.querySelector("button"), form, async () => {
      const vendor = await api.post("/admin/vendors", { name: values.name || "", email: values.email || "" });
      mount(result, notice(vendor.temporary_password
        ? `Created ${vendor.name} (${vendor.vendor_id}). Temporary password: ${vendor.temporary_password} — the vendor chooses a new one at the first sign-in.`
        : `Created ${vendor.name} (${vendor.vendor_id}). Cognito emails the temporary password to ${vendor.email}.`));
      form.reset();
      onCreated();
    });
  });
  return form;
}

function vendorsTable() {
  return pagedTable(["Vendor", "Id", "Email", "Created"], async (cursor) => {
    const page = await api.get("/admin/vendors", { cursor });
    return { items: page.vendors || [], next_cursor: page.next_cursor };
  }, (vendor) => h("tr", {},
    h("td", {}, vendor.name), h("td", {}, h("code", {}, vendor.vendor_id)), h("td", {}, vendor.email),
    h("td", {}, formatInstant(vendor.created_at))), { empty: "No vendors yet.", label: "Vendors" });
}

function vendorsPage(view) {
  const list = h("section", { "aria-labelledby": "vendors-heading" }, h("h2", { id: "vendors-heading" }, "Vendors"), vendorsTable());
  const refresh = () => list.replaceChild(vendorsTable(), list.lastChild);
  mount(view, h("h1", {}, "Administration"), createForm(refresh), list);
}

export const nav = [{ href: "#/admin", label: "Vendors", role: "admins" }];
export const routes = [{ pattern: "/admin", title: "Administration", role: "admins", render: vendorsPage }];
