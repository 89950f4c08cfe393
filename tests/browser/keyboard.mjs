// Keyboard only: sign in with Tab and Enter, Tab through the portal to the first role's Console
// button (every stop showing a visible focus indicator), and open the console with Enter.
// Usage: node keyboard.mjs BASE_URL
// Prints: signed-in=<bool> console-reached-after=<n> invisible-focus=<json> posted=<bool>
import { launch, watchConsolePosts } from "./launch.mjs";

const [base] = process.argv.slice(2);
const browser = await launch();
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (e) => console.log(`browser error: ${e}`));
  const posts = watchConsolePosts(page, base);
  const focused = () => page.evaluate(() => {
    const e = document.activeElement;
    if (!e || e === document.body) return null;
    const s = getComputedStyle(e);
    const visible = (s.outlineStyle !== "none" && s.outlineWidth !== "0px") || s.boxShadow !== "none";
    return { tag: e.tagName.toLowerCase(), id: e.id, cls: String(e.className), visible };
  });
  const tabTo = async (matches, limit) => {
    const invisible = [];
    for (let i = 1; i <= limit; i++) {
      await page.keyboard.press("Tab");
      const f = await focused();
      if (f && !f.visible) invisible.push(`${f.tag}#${f.id}.${f.cls}`);
      if (f && matches(f)) return { steps: i, invisible };
    }
    return { steps: -1, invisible };
  };
  await page.goto(`${base}/login`);
  await tabTo((f) => f.id === "username", 20);
  await page.keyboard.type("alice");
  await page.keyboard.press("Tab");
  await page.keyboard.type("alice-demo-password");
  await Promise.all([page.waitForURL(`${base}/`), page.keyboard.press("Enter")]);
  console.log(`signed-in=${page.url() === `${base}/`}`);
  const { steps, invisible } = await tabTo((f) => f.tag === "button" && f.cls.includes("console"), 60);
  console.log(`console-reached-after=${steps}`);
  console.log(`invisible-focus=${JSON.stringify(invisible)}`);
  await Promise.all([
    page.waitForURL((u) => u.origin !== base, { timeout: 15000 }).catch(() => {}),
    page.keyboard.press("Enter"),
  ]);
  console.log(`posted=${posts.seen()}`);
} finally {
  await browser.close();
}
