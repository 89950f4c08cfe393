// A role's bookmark link in a real browser: opened from the address bar it goes on to the
// console sign-in by itself (the console POST, then the auto-POST to the AWS sign-in endpoint);
// reached through the sign-in page, or followed from a page of another origin, it waits on its
// Continue button.
// Usage: node bookmark.mjs BASE_URL LINK_PATH
// Prints: posted-typed=<bool> final-typed=<url> posted-linked=<bool> url-linked=<url>
//         posted-after-click=<bool>
import { launch, watchConsolePosts } from "./launch.mjs";

const [base, link] = process.argv.slice(2);
const browser = await launch();
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (e) => console.log(`browser error: ${e}`));
  // Every page of the context: the link followed from another origin opens in a second one.
  const posts = watchConsolePosts(context, base);
  await page.goto(`${base}/login?next=${encodeURIComponent(link)}`);
  await page.fill("#username", "alice");
  await page.fill("#password", "alice-demo-password");
  // Sign-in returns to the link, same-origin whoever sent the person there: it waits.
  await Promise.all([page.waitForURL(`${base}${link}`), page.click("button[type=submit]")]);
  await page.waitForTimeout(1500);
  console.log(`posted-after-sign-in=${posts.seen()} url-after-sign-in=${page.url()}`);
  posts.reset();
  await page.goto(`${base}${link}`, { waitUntil: "commit" });
  await page.waitForURL((u) => u.origin !== base, { timeout: 15000 }).catch(() => {});
  console.log(`posted-typed=${posts.seen()} final-typed=${page.url()}`);

  // Another origin's page links to it (about:blank with an opaque origin is cross-site).
  posts.reset();
  const other = await context.newPage();
  await other.goto("about:blank");
  await other.setContent(`<a id="go" href="${base}${link}">open</a>`);
  await Promise.all([other.waitForURL(`${base}${link}`), other.click("#go")]);
  await other.waitForTimeout(1500);
  console.log(`posted-linked=${posts.seen()} url-linked=${other.url()}`);
  await Promise.all([other.waitForURL((u) => u.origin !== base, { timeout: 15000 }).catch(() => {}), other.click("#bookmark-continue")]);
  console.log(`posted-after-click=${posts.seen()}`);
} finally {
  await browser.close();
}
