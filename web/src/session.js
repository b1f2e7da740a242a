// The signed-in user: tokens in localStorage (the API's Cognito tokens), the profile from GET /me.
// Listeners re-render the navigation when the user signs in or out.
const KEY = "itinera.session";
const listeners = new Set();
let profile = null;

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function save(tokens) {
  if (tokens) localStorage.setItem(KEY, JSON.stringify(tokens));
  else localStorage.removeItem(KEY);
}

function notify() {
  for (const listener of listeners) listener(profile);
}

// api.js imports this module; the reverse import is lazy to keep the two free of a cycle at load.
async function apiModule() {
  return import("./api.js");
}

export const session = {
  idToken: () => load()?.id_token || null,
  refreshToken: () => load()?.refresh_token || null,
  profile: () => profile,
  signedIn: () => Boolean(load()?.id_token),
  hasRole: (role) => Boolean(profile && profile.roles && profile.roles.includes(role)),
  onChange(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },

  async signIn(email, password) {
    const { api } = await apiModule();
    const tokens = await api.anonymous("POST", "/auth/login", { email, password });
    save(tokens);
    return this.loadProfile();
  },

  async refresh() {
    const { api } = await apiModule();
    const current = load();
    try {
      const tokens = await api.anonymous("POST", "/auth/refresh", { refresh_token: current.refresh_token });
      // Cognito's refresh answer carries no new refresh token: keep the one we have.
      save({ ...current, ...tokens, refresh_token: tokens.refresh_token || current.refresh_token });
      return true;
    } catch {
      this.signOut();
      return false;
    }
  },

  async loadProfile() {
    if (!this.signedIn()) {
      profile = null;
      notify();
      return null;
    }
    const { api } = await apiModule();
    try {
      profile = await api.get("/me");
    } catch (err) {
      if (err.status === 401) {
        save(null);
        profile = null;
      } else {
        throw err;
      }
    }
    notify();
    return profile;
  },

  signOut() {
    save(null);
    profile = null;
    notify();
  },
};
