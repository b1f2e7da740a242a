// The start page, sign-in and sign-up (POST /auth/login, /auth/signup).
import { api } from "../api.js";
import { session } from "../session.js";
import { busy, field, formValues, h, mount, notice } from "../ui.js";

export const nav = [{ href: "#/signup", label: "Sign up", anonymousOnly: true }];

function home(view) {
  const profile = session.profile();
  const roles = (profile && profile.roles) || [];
  const places = [];
  if (!profile || roles.includes("travelers")) {
    places.push(h("li", {}, h("a", { href: "#/search" }, "Search flights, hotels, events and services")));
  }
  if (roles.includes("travelers")) places.push(h("li", {}, h("a", { href: "#/bookings" }, "My bookings")));
  if (roles.includes("agents")) places.push(h("li", {}, h("a", { href: "#/agent" }, "Agent desk")));
  if (roles.includes("vendors")) places.push(h("li", {}, h("a", { href: "#/vendor" }, "Vendor console")));
  if (roles.includes("admins")) places.push(h("li", {}, h("a", { href: "#/admin" }, "Administration: vendors")));
  places.push(h("li", {}, h("a", { href: "#/help" }, "Help and FAQ")));
  mount(view,
    h("h1", {}, profile ? `Welcome, ${profile.name || profile.email}` : "Welcome to Itinera"),
    h("p", {}, "Flights, hotel rooms, event tickets and services, held together and paid once."),
    h("ul", { class: "big-links" }, places));
}

function signIn(view, { query, navigate }) {
  const form = h("form", { class: "card narrow", novalidate: true },
    field("Email", h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    h("p", {}, "New here? ", h("a", { href: "#/signup" }, "Create an account")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { email = "", password = "" } = formValues(form);
    busy(form.querySelector("button[type=submit]"), form, async () => {
      try {
        await session.signIn(email, password);
      } catch (err) {
        // An account an admin created (a vendor) signs in first with its temporary password.
        if (err.details && err.details.challenge === "NEW_PASSWORD_REQUIRED") {
          mount(view, h("h1", {}, "Choose your password"), newPasswordForm(email, password, () => navigate(...target(query.next))));
          return;
        }
        throw err;
      }
      navigate(...target(query.next));
    });
  });
  mount(view, h("h1", {}, "Sign in"), form);
}

function newPasswordForm(email, temporaryPassword, done) {
  const form = h("form", { class: "card narrow", novalidate: true },
    notice("This account still has the temporary password it was created with. Choose your own."),
    field("New password", h("input", { name: "new_password", type: "password", autocomplete: "new-password", required: true }),
      "At least 8 characters with upper and lower case letters and a digit."),
    h("button", { type: "submit", class: "primary" }, "Set password and sign in"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const newPassword = formValues(form).new_password || "";
    busy(form.querySelector("button"), form, async () => {
      await api.anonymous("POST", "/auth/new-password",
        { email, temporary_password: temporaryPassword, new_password: newPassword });
      await session.signIn(email, newPassword);
      done();
    });
  });
  return form;
}

// "/bookings/x?y=1" (from ?next=) -> ["/bookings/x", {y: "1"}]; only paths inside the app.
function target(next) {
  if (!next || !next.startsWith("/")) return ["/", {}];
  const [path, qs = ""] = next.split("?");
  return [path, Object.fromEntries(new URLSearchParams(qs))];
}

function signUp(view, { navigate }) {
  const form = h("form", { class: "card narrow", novalidate: true },
    field("Name", h("input", { name: "name", autocomplete: "name", required: true })),
    field("Email", h("input", { name: "email", type: "email", autocomplete: "email", required: true })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "new-password", required: true }),
      "At least 8 characters with upper and lower case letters and a digit."),
    h("button", { type: "submit", class: "primary" }, "Create account"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues(form);
    busy(form.querySelector("button[type=submit]"), form, async () => {
      const created = await api.anonymous("POST", "/auth/signup",
        { email: values.email || "", password: values.password || "", name: values.name || "" });
      if (!created.confirmed) {
        mount(view, h("h1", {}, "Confirm your email"), confirmForm(values.email, values.password, navigate));
        return;
      }
      await session.signIn(values.email, values.password);
      navigate("/search");
    });
  });
  mount(view, h("h1", {}, "Create an account"), form);
}

// Stages other than the local one send Cognito's code by email (API.md: POST /auth/confirm).
function confirmForm(email, password, navigate) {
  const form = h("form", { class: "card narrow" },
    notice(`We sent a code to ${email}.`),
    field("Code", h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", required: true })),
    h("button", { type: "submit", class: "primary" }, "Confirm"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("button"), form, async () => {
      await api.anonymous("POST", "/auth/confirm", { email, code: formValues(form).code || "" });
      await session.signIn(email, password);
      navigate("/search");
    });
  });
  return form;
}

export const routes = [
  { pattern: "/", title: "Itinera", render: home },
  { pattern: "/signin", title: "Sign in", render: signIn },
  { pattern: "/signup", title: "Sign up", render: signUp },
];
