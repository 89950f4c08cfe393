// Signs in as the demo user alice in headless Chromium and checks the portal.
// Usage: node sign_in.mjs BASE_URL SCREENSHOT.png
import { launch } from "./launch.mjs";

const [base, screenshot] = process.argv.slice(2);
const browser = await launch();
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
