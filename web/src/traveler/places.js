// Places autocomplete for the search boxes (GET /places?q=): an accessible combobox (WAI-ARIA
// "combobox with listbox popup"): arrows move through the options, Enter picks one, Escape
// closes the list, a click picks one too. Picking fills the place's code (PAR, CDG, ...).
import { api } from "../api.js";
import { field, h } from "../ui.js";

let seq = 0;

function describe(place) {
  const where = place.type === "airport" ? `airport, ${place.city}` : "city";
  return `${place.name} (${place.code}) · ${where}, ${place.country}`;
}

// placeField("City", {name: "city", value: "PAR", kind: "hotel"}) -> a labelled combobox field.
// `kind` (a function or a string) keeps only places selling that kind.
export function placeField(label, { name, value = "", kind, required = true, hint } = {}) {
  const id = `place-${++seq}`;
  const listId = `${id}-list`;
  const input = h("input", {
    name, value, id, type: "text", autocomplete: "off", spellcheck: "false", required,
    role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": listId,
  });
  const list = h("ul", {
    id: listId, role: "listbox", "aria-label": `${label} suggestions`, hidden: true,
    style: {
      position: "absolute", left: "0", right: "0", top: "100%", zIndex: "5", margin: "2px 0 0", padding: "0",
      listStyle: "none", background: "#fff", border: "1px solid #7b8794", borderRadius: "6px",
      maxHeight: "16rem", overflowY: "auto", boxShadow: "0 4px 12px rgba(0,0,0,0.15)",
    },
  });
  const status = h("span", { class: "muted", role: "status", "aria-live": "polite",
    style: { position: "absolute", width: "1px", height: "1px", overflow: "hidden", clip: "rect(0 0 0 0)" } });
  let places = [];
  let active = -1;
  let timer = null;
  let requestSeq = 0;

  function wantedKind() {
    return typeof kind === "function" ? kind() : kind;
  }

  function open() {
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    active = index;
    [...list.children].forEach((option, i) => {
      const on = i === index;
      option.setAttribute("aria-selected", on ? "true" : "false");
      option.style.background = on ? "#0b5394" : "";
      option.style.color = on ? "#fff" : "";
      if (on) {
        input.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({ block: "nearest" });
      }
    });
    if (index < 0) input.removeAttribute("aria-activedescendant");
  }

  function choose(index) {
    const place = places[index];
    if (!place) return;
    input.value = place.code;
    input.dataset.placeName = place.name;
    close();
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function draw() {
    list.replaceChildren(...places.map((place, i) => h("li", {
      id: `${listId}-${i}`, role: "option", "aria-selected": "false",
      style: { padding: "0.5rem 0.6rem", cursor: "pointer" },
      // mousedown (not click): the input keeps focus, and the list is not closed by blur first.
      onmousedown: (event) => { event.preventDefault(); choose(i); },
      onmousemove: () => { if (active !== i) highlight(i); },
    }, describe(place))));
    status.textContent = places.length ? `${places.length} suggestions` : "No matching places";
    if (places.length) open();
    else close();
  }

  async function lookUp() {
    const q = input.value.trim();
    const mine = ++requestSeq;
    if (!q) {
      places = [];
      draw();
      return;
    }
    try {
      const answer = await api.get("/places", { q, limit: 8 });
      if (mine !== requestSeq) return; // a newer keystroke's answer wins
      const k = wantedKind();
      places = (answer.places || []).filter((place) => !k || !place.kinds || place.kinds.includes(k));
      draw();
    } catch (err) {
      if (mine !== requestSeq) return;
      places = [];
      list.replaceChildren();
      close();
      status.textContent = err.message;
    }
  }

  input.addEventListener("input", () => {
    delete input.dataset.placeName;
    clearTimeout(timer);
    timer = setTimeout(lookUp, 250);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (list.hidden && places.length) open();
      if (places.length) highlight((active + 1) % places.length);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      if (list.hidden && places.length) open();
      if (places.length) highlight(active <= 0 ? places.length - 1 : active - 1);
    } else if (event.key === "Enter") {
      if (!list.hidden && active >= 0) {
        event.preventDefault(); // picks the option; does not submit the form
        choose(active);
      }
    } else if (event.key === "Escape") {
      if (!list.hidden) {
        event.preventDefault();
        close();
      }
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 100));

  const wrapped = field(label, input, hint || "Type a city or airport, then pick it from the list.");
  // The input goes into a positioned box (for the list), where the field put it: before the hint.
  const box = h("div", { style: { position: "relative" } });
  wrapped.replaceChild(box, input);
  box.append(input, list, status);
  return wrapped;
}

// A typed place that was not picked from the list ("paris"): its code from GET /places, or the
// text itself when it already is a code.
export async function resolvePlace(text, kind) {
  const value = String(text || "").trim();
  if (!value) return value;
  if (/^[A-Za-z]{3}$/.test(value)) return value.toUpperCase();
  const answer = await api.get("/places", { q: value, limit: 5 });
  const found = (answer.places || []).find((place) => !kind || !place.kinds || place.kinds.includes(kind));
  return found ? found.code : value;
}
