// Signs in as the demo user alice in headless Chromium and checks the portal.
// Usage: node sign_in.mjs BASE_URL SCREENSHOT.png
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../peers/package.json"));
const { chromium } = require("playwright-core");

const [base, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  // Not signed in: the portal sends us to the login page.
  if (!page.url().includes("/login")) throw new Error(`expected the login page, got ${page.url()}`);
  await page.fill("#username", "alice");
  await page.fill("#password", "alice-demo-password");
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
  const user = await page.textContent("#portal-username");
  const groups = await page.$$eval("#groups li", (els) => els.map((e) => e.textContent.trim()));
  const roles = await page.textContent("#roles h2");
  console.log(`portal-user=${user}`);
  console.log(`groups=${groups.join(",")}`);
  console.log(`roles-heading=${roles}`);
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
