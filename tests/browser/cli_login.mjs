// Drives `fedbroker-cli login --no-browser`'s printed address: signs in, checks the consent page
// names the device and the lifetime, approves, and waits for the client's loopback page.
// Usage: node cli_login.mjs AUTHORIZE_URL USER PASSWORD SCREENSHOT.png
import { launch } from "./launch.mjs";

const [url, user, password, screenshot] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.log(`browser error: ${e}`));
  await page.goto(url);
  if (!page.url().includes("/login")) throw new Error(`expected the login page, got ${page.url()}`);
  await page.fill("#username", user);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(/\/oauth\/authorize/), page.click("button[type=submit]")]);
  console.log(`device=${(await page.textContent("#cli-device")).trim()}`);
  console.log(`lifetime=${(await page.textContent("#cli-lifetime")).trim()}`);
  await page.screenshot({ path: screenshot, fullPage: true });
  await Promise.all([page.waitForURL(/127\.0\.0\.1:\d+\/callback/), page.click("#cli-approve")]);
  console.log(`callback=${(await page.textContent("body")).trim()}`);
} finally {
  await browser.close();
}
