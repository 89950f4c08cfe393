// Opens every page as the right user in headless Chromium at 1280 and 390 px wide (and at
// 1280 in the dark theme): checks it
// with axe-core (violations of impact serious or critical), checks that nothing overflows
// horizontally, and saves a screenshot of each. Prints one JSON line per page and width.
// Usage: node pages.mjs BASE_URL OUT_DIR PAGES.json
//   PAGES.json: [{"user": "alice", "password": "...", "pages": [{"name": "portal", "path": "/"}]}]
//   A user of null visits signed out. A page with "via_link": true is reached by a link on a
//   page of another origin (a bookmark link shared elsewhere waits there for a click); one with
//   "submit": "<selector>" is the answer to pressing that button on the page at "path".
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { launch } from "./launch.mjs";

const [base, out, spec] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../peers/package.json"));
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const groups = JSON.parse(fs.readFileSync(spec, "utf8"));
fs.mkdirSync(out, { recursive: true });

const browser = await launch();
try {
  for (const group of groups) {
    for (const [width, scheme] of [[1280, "light"], [390, "light"], [1280, "dark"]]) {
      // bypassCSP lets axe be injected; the pages' own CSP is tested elsewhere.
      const context = await browser.newContext({
        viewport: { width, height: 900 }, colorScheme: scheme, bypassCSP: true,
      });
      const page = await context.newPage();
      page.on("pageerror", (e) => console.log(`browser error: ${e}`));
      if (group.user) {
        await page.goto(`${base}/login`);
        await page.fill("#username", group.user);
        await page.fill("#password", group.password);
        await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
      }
      for (const p of group.pages) {
        let response;
        if (p.via_link) {
          // Followed from a page of another origin, as a link shared elsewhere would be.
          await page.goto("about:blank");
          await page.setContent(`<a id="go" href="${base}${p.path}">open</a>`);
          [response] = await Promise.all([page.waitForNavigation(), page.click("#go")]);
        } else if (p.submit) {
          // A page that answers a form: open the form's page and press its button.
          await page.goto(`${base}${p.path}`);
          [response] = await Promise.all([page.waitForNavigation(), page.click(p.submit)]);
        } else {
          response = await page.goto(`${base}${p.path}`);
        }
        await page.addScriptTag({ content: axeSource });
        const result = await page.evaluate(async () => {
          const r = await window.axe.run(document, { resultTypes: ["violations"] });
          return r.violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => ({
              id: v.id,
              impact: v.impact,
              help: v.help,
              nodes: v.nodes.length,
              sample: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
            }));
        });
        const sizes = await page.evaluate(() => ({
          scrollWidth: document.documentElement.scrollWidth,
          innerWidth: window.innerWidth,
          wide: [...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
            .filter((e) => !e.closest("pre, .scroll-x"))
            .slice(0, 3)
            .map((e) => e.tagName.toLowerCase() + (e.id ? `#${e.id}` : "") + (e.className ? `.${String(e.className).split(" ").join(".")}` : "")),
        }));
        const shot = path.join(out, `page-${p.name}-${width}${scheme === "dark" ? "-dark" : ""}.png`);
        await page.screenshot({ path: shot, fullPage: true });
        console.log(JSON.stringify({
          page: p.name, path: p.path, width, scheme, status: response ? response.status() : 0,
          violations: result, ...sizes, screenshot: shot,
        }));
      }
      await context.close();
    }
  }
} finally {
  await browser.close();
}
