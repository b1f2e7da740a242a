// The vendor pages: routes and navigation entries (see src/router.js for the route shape).
import { bookingsPage } from "./bookings.js";
import { listingPage, listingsPage } from "./listings.js";
import { promotionsPage } from "./promotions.js";
import { webhookPage } from "./webhook.js";

export const nav = [
  { href: "#/vendor", label: "Listings", role: "vendors" },
  { href: "#/vendor/bookings", label: "Bookings", role: "vendors" },
  { href: "#/vendor/promotions", label: "Promotions", role: "vendors" },
  { href: "#/vendor/webhook", label: "Webhook", role: "vendors" },
];

export const routes = [
  { pattern: "/vendor", title: "Your listings", role: "vendors", render: listingsPage },
  { pattern: "/vendor/listings/:id", title: "Listing", role: "vendors", render: listingPage },
  { pattern: "/vendor/bookings", title: "Vendor bookings", role: "vendors", render: bookingsPage },
  { pattern: "/vendor/promotions", title: "Promotions", role: "vendors", render: promotionsPage },
  { pattern: "/vendor/webhook", title: "Webhook", role: "vendors", render: webhookPage },
];
