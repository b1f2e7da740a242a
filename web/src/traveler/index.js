// The traveler pages: routes and navigation entries (see src/router.js for the route shape).
import * as help from "./help.js";
import * as recommendations from "./recommendations.js";
import * as waitlist from "./waitlist.js";
import * as search from "./search.js";
import * as listing from "./listing.js";
import * as trip from "./trip.js";
import * as bookings from "./bookings.js";
import * as booking from "./booking.js";

export const nav = [
  { href: "#/search", label: "Search" },
  { href: "#/trip", label: "Trip", role: "travelers" },
  { href: "#/bookings", label: "My bookings", role: "travelers" },
  { href: "#/waitlist", label: "Waitlist", role: "travelers" },
  { href: "#/for-you", label: "For you", role: "travelers" },
  { href: "#/help", label: "Help" },
];

export const routes = [
  ...search.routes,
  ...listing.routes,
  ...trip.routes,
  ...bookings.routes,
  ...booking.routes,
  ...waitlist.routes,
  ...recommendations.routes,
  ...help.routes,
];
