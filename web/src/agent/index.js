// The agent pages: routes and navigation entries (see src/router.js for the route shape).
// The support desk (find a booking by reference or email; its money, audit, cancel and refund)
// and the support cases queue with each case's thread.
import * as booking from "./booking.js";
import * as cases from "./cases.js";
import * as desk from "./desk.js";

export const nav = [
  { href: "#/agent", label: "Desk", role: "agents" },
  { href: "#/agent/cases", label: "Cases", role: "agents" },
];
export const routes = [...desk.routes, ...booking.routes, ...cases.routes];
