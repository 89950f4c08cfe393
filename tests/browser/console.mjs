// Signs in as alice in headless Chromium, presses "Console" on a role, and follows where the
// broker sends the browser: the SAML auto-POST to the (loopback) AWS sign-in endpoint, or the
// federation login URL for a role with a session policy. LANDING is the address it must reach
// (a prefix). Usage: node console.mjs BASE_URL LANDING SCREENSHOT.png
import { launch } from "./launch.mjs";

const [base, acs, screenshot] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.log(`browser console: ${m.text()}`));
  page.on("pageerror", (e) => console.log(`browser error: ${e}`));
  await page.goto(`${base}/login`);
  await page.fill("#username", "alice");
  await page.fill("#password", "alice-demo-password");
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-portal.png"), fullPage: true });
  // The auto-POST page submits itself (static script, no inline JS) and lands on the endpoint.
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(acs), { timeout: 15000 }),
    page.click(".account[data-account='123456789012'] button.console"),
  ]);
  const result = await page.textContent("#result");
  console.log(`landed=${page.url()}`);
  console.log(`result=${result}`);
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
