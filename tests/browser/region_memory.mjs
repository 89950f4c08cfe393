// The portal remembers the Region chosen last: choose one on the first role, reload, and every
// role's Region list shows it. Usage: node region_memory.mjs BASE_URL REGION
import { launch } from "./launch.mjs";

const [base, region] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.log(`browser error: ${e}`));
  await page.goto(`${base}/login`);
  await page.fill("#username", "alice");
  await page.fill("#password", "alice-demo-password");
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
  const selects = "form.console-form select[name=region]";
  console.log(`before=${JSON.stringify(await page.$$eval(selects, (all) => all.map((s) => s.value)))}`);
  await page.selectOption(`${selects} >> nth=0`, region);
  await page.reload();
  console.log(`after=${JSON.stringify(await page.$$eval(selects, (all) => all.map((s) => s.value)))}`);
} finally {
  await browser.close();
}
