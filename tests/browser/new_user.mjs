// An admin creates a local user in the admin UI and reads the one-time password off the page;
// the new user signs in with it in another browser, is sent to choose their own password, and
// then reaches the portal with the role their group maps to.
// Usage: node new_user.mjs BASE_URL ADMIN_PASSWORD SCREENSHOT_PREFIX
// Prints: one-time-length=<n> forced=<bool> portal=<bool> role-shown=<bool>
import { launch } from "./launch.mjs";

const [base, adminPassword, prefix] = process.argv.slice(2);
const browser = await launch();
const signIn = async (page, user, password) => {
  await page.goto(`${base}/login`);
  await page.fill("#username", user);
  await page.fill("#password", password);
  await Promise.all([page.waitForNavigation(), page.click("#login-form button[type=submit]")]);
};
try {
  const admin = await (await browser.newContext()).newPage();
  admin.on("pageerror", (e) => console.log(`browser error: ${e}`));
  await signIn(admin, "admin", adminPassword);
  await admin.goto(`${base}/admin/users`);
  await admin.fill("#new-username", "nora");
  await admin.fill("#new-display-name", "Nora New");
  await admin.fill("#new-groups", "AWS-123456789012-ReadOnly");
  await Promise.all([admin.waitForNavigation(), admin.click("#create-user")]);
  await admin.screenshot({ path: `${prefix}-created.png`, fullPage: true });
  const oneTime = (await admin.textContent("#one-time-password")).trim();
  console.log(`one-time-length=${oneTime.length}`);

  const nora = await (await browser.newContext()).newPage();
  nora.on("pageerror", (e) => console.log(`browser error: ${e}`));
  await signIn(nora, "nora", oneTime);
  const forced = nora.url() === `${base}/account/password` && (await nora.isVisible("#forced-change"));
  console.log(`forced=${forced}`);
  await nora.screenshot({ path: `${prefix}-forced.png`, fullPage: true });
  await nora.fill("#current_password", oneTime);
  await nora.fill("#new_password", "noras-own-password-1");
  await nora.fill("#confirm_password", "noras-own-password-1");
  await Promise.all([nora.waitForNavigation(), nora.click("form[action=\"/account/password\"] button[type=submit]")]);
  await nora.goto(`${base}/`);
  console.log(`portal=${nora.url() === `${base}/`}`);
  console.log(`role-shown=${(await nora.textContent("#roles")).includes("ReadOnly")}`);
} finally {
  await browser.close();
}
