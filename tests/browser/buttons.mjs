// Forms whose action is the pressed button's name and value ("Add a key", a rule's "Disable"),
// pressed in a real browser with the page's script running: what the server receives must
// carry that action, although the script disables the buttons against double submission.
// Usage: node buttons.mjs BASE_URL ADMIN_PASSWORD SCREENSHOT_PREFIX
import { launch } from "./launch.mjs";

const [base, adminPassword, prefix] = process.argv.slice(2);
const browser = await launch();

try {
  const admin = await (await browser.newContext()).newPage();
  admin.on("pageerror", (e) => console.log(`browser error: ${e}`));
  await admin.goto(`${base}/login`);
  await admin.fill("#username", "admin");
  await admin.fill("#password", adminPassword);
  await Promise.all([admin.waitForURL(`${base}/`), admin.click("button[type=submit]")]);

  await admin.goto(`${base}/admin/keys`);
  const before = (await admin.$$("tr[data-kid]")).length;
  // The page is already at the URL the form returns to, so waiting for that URL would not wait
  // for the answer: wait for what the answer shows (and report whatever is there on timeout).
  await admin.click("button[name=action][value=add]");
  await admin
    .waitForSelector(`:nth-match(tr[data-kid], ${before + 1})`, { timeout: 15000 })
    .catch(() => {});
  await admin.waitForLoadState("load");
  const after = (await admin.$$("tr[data-kid]")).length;
  console.log(`keys=${before}->${after}`);
  await admin.screenshot({ path: `${prefix}-keys.png`, fullPage: true });

  await admin.goto(`${base}/admin/rules`);
  await admin.click("#rules button[name=action][value=disable]");
  await admin
    .waitForSelector("#rules button[name=action][value=enable]", { timeout: 15000 })
    .catch(() => {});
  await admin.waitForLoadState("load");
  const enable = await admin.$$("#rules button[name=action][value=enable]");
  console.log(`rule-disabled=${enable.length === 1}`);
  await admin.screenshot({ path: `${prefix}-rules.png`, fullPage: true });
} finally {
  await browser.close();
}
