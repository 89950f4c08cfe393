// Sign-in through SimpleSAMLphp in headless Chromium: the broker's "Sign in with …" button,
// SimpleSAMLphp's login form, back at the broker's portal with the roles the upstream groups
// map to; then, in a fresh browser, a sign-in started at SimpleSAMLphp (IdP-initiated).
// Usage: node upstream_saml.mjs BROKER_URL IDP_INITIATED_URL SCREENSHOT_PREFIX
import { launch } from "./launch.mjs";

const [base, idpInitiated, prefix] = process.argv.slice(2);
const browser = await launch();

async function atTheProvider(page, user, password) {
  await page.waitForSelector("input[name=password]");
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", password);
  await Promise.all([
    page.waitForURL((u) => u.toString().startsWith(`${base}/`) && !u.toString().includes("/saml/"), {
      timeout: 20000,
    }),
    page.press("input[name=password]", "Enter"),
  ]);
}

async function report(page, label) {
  const user = await page.textContent("#portal-username");
  const roles = await page.$$eval(".role-name", (els) => els.map((e) => e.textContent.trim()));
  console.log(`${label}-user=${user.trim()}`);
  console.log(`${label}-roles=${roles.join("|")}`);
}

try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.log(`browser error: ${e}`));
  await page.goto(`${base}/login`);
  const button = await page.textContent("#provider-ssp");
  console.log(`button=${button.trim()}`);
  await page.screenshot({ path: `${prefix}-login.png`, fullPage: true });
  await Promise.all([page.waitForURL(/loginuserpass/), page.click("#provider-ssp")]);
  await page.screenshot({ path: `${prefix}-idp.png`, fullPage: true });
  await atTheProvider(page, "alice", "alice-pass");
  console.log(`landed=${new URL(page.url()).pathname}`);
  await report(page, "sp");
  await page.screenshot({ path: `${prefix}-portal.png`, fullPage: true });

  if (idpInitiated !== "-") {
    const other = await (await browser.newContext()).newPage();
    other.on("pageerror", (e) => console.log(`browser error: ${e}`));
    await other.goto(idpInitiated);
    await atTheProvider(other, "bob", "bob-pass");
    await report(other, "idp");
  }
} finally {
  await browser.close();
}
