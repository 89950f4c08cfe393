// Starts Debian's Chromium headless through playwright-core (no browser download), with the flags
// this closed network needs.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../peers/package.json"));
const { chromium } = require("playwright-core");

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// Watches a page or a whole browser context for the console sign-in POST (`/saml/aws/sso`):
// `seen()` says whether one went out since the watch began or since the last `reset()`.
export function watchConsolePosts(target, base) {
  let posted = false;
  target.on("request", (r) => {
    if (r.method() === "POST" && r.url() === `${base}/saml/aws/sso`) posted = true;
  });
  return { seen: () => posted, reset: () => { posted = false; } };
}
