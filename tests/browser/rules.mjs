// An admin creates a mapping rule and an account alias in the admin UI, dry-runs the rule for
// alice, then alice signs in (another browser context) and finds the role under the alias, with
// the search box filtering as she types.
// Usage: node rules.mjs BASE_URL ADMIN_PASSWORD ALICE_PASSWORD SCREENSHOT_PREFIX
import { launch } from "./launch.mjs";

const [base, adminPassword, alicePassword, prefix] = process.argv.slice(2);
const browser = await launch();

async function signIn(page, user, password) {
  await page.goto(`${base}/login`);
  await page.fill("#username", user);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
}

try {
  const admin = await (await browser.newContext()).newPage();
  admin.on("pageerror", (e) => console.log(`browser error: ${e}`));
  await signIn(admin, "admin", adminPassword);

  await admin.goto(`${base}/admin/rules/new`);
  await admin.fill("#name", "Payments deployers");
  await admin.fill("#pattern", "pay-(\\w+)");
  await admin.fill("#role", "arn:aws:iam::123456789012:role/$1-Deployer");
  await admin.fill("#session_duration", "7200");
  await Promise.all([admin.waitForURL(/\/admin\/rules(#.*)?$/), admin.click("#save-rule")]);
  const listed = await admin.$$eval("#rules tr[data-name]", (rows) => rows.map((r) => r.dataset.name));
  console.log(`rules=${listed.join("|")}`);
  await admin.screenshot({ path: `${prefix}-rules.png`, fullPage: true });

  await admin.goto(`${base}/admin/accounts`);
  await admin.fill("#new-id", "123456789012");
  await admin.fill("#new-name", "Payments");
  await admin.fill("#new-environment", "prod");
  await admin.selectOption("#new-account select[name=colour]", "red");
  await Promise.all([admin.waitForURL(`${base}/admin/accounts`), admin.click("#add-account")]);
  console.log(`alias-row=${(await admin.textContent("#account-123456789012")) ? "yes" : "no"}`);

  await admin.goto(`${base}/admin/test`);
  await admin.fill("#username", "alice");
  await Promise.all([admin.waitForSelector("#dry-run-result"), admin.click("#run-dry-run")]);
  const granted = await admin.$$eval("#granted tbody tr", (rows) =>
    rows.map((r) => Array.from(r.cells).map((c) => c.textContent.trim()).join(" ; ")));
  for (const g of granted) console.log(`dry-run=${g}`);
  await admin.screenshot({ path: `${prefix}-dry-run.png`, fullPage: true });

  const alice = await (await browser.newContext()).newPage();
  alice.on("pageerror", (e) => console.log(`browser error: ${e}`));
  await signIn(alice, "alice", alicePassword);
  const heading = await alice.textContent("#account-123456789012 h3");
  console.log(`account-heading=${heading.replace(/\s+/g, " ").trim()}`);
  const roles = await alice.$$eval("#account-123456789012 .role-name", (els) => els.map((e) => e.textContent.trim()));
  console.log(`portal-roles=${roles.join("|")}`);
  await alice.screenshot({ path: `${prefix}-portal.png`, fullPage: true });

  // The search filters as she types (static script), and says so when nothing matches.
  await alice.fill("#role-filter", "nothing-like-this");
  console.log(`no-match-visible=${await alice.isVisible("#no-match")}`);
  await alice.fill("#role-filter", "payments prod");
  console.log(`match-visible=${await alice.isVisible("#account-123456789012 .role")}`);
  console.log(`no-match-after=${await alice.isVisible("#no-match")}`);
  await alice.screenshot({ path: `${prefix}-search.png`, fullPage: true });
} finally {
  await browser.close();
}
