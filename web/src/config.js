// The deployment's settings, served beside the app as /config.json (the local web server
// writes it from the stack; infra uploads it with the site):
// {"api": "/api", "stage": "local", "payment_provider": "local" | "stripe",
//  "stripe_publishable_key": "pk_..." | null}
export const config = { api: "/api", stage: "local", payment_provider: "local", stripe_publishable_key: null };

export async function loadConfig() {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`/config.json answered ${response.status}`);
  Object.assign(config, await response.json());
  return config;
}
