// Opens the web display in Debian's chromium (software WebGL2 through SwiftShader), waits until
// it says it is ready (or a timeout), saves a screenshot and prints what the page logged and how
// long each stage took: node shot.mjs URL OUT.png [TIMEOUT_S]
import { chromium } from "playwright-core";

const [url, out, timeout = "180"] = process.argv.slice(2);
const started = Date.now();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
    "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run",
  ],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
page.on("console", (m) => console.log(`[page ${m.type()}] ${m.text()}`));
page.on("pageerror", (e) => console.log(`[page error] ${e}`));
page.on("response", (r) => { if (r.status() >= 400) console.log(`[http ${r.status()}] ${r.url()}`); });
await page.exposeFunction("gridwallStage", (s) => console.log(`stage ${s} after ${((Date.now() - started) / 1000).toFixed(1)} s`));
await page.addInitScript(() => {
  for (const s of ["gridwall-drawing", "gridwall-ready"]) window.addEventListener(s, () => window.gridwallStage(s));
});
await page.goto(url);
await page.evaluate((t) => new Promise((res) => {
  window.addEventListener("gridwall-ready", () => res(true));
  setTimeout(() => res(false), t * 1000);
}), Number(timeout)).then((ok) => console.log(ok ? "ready" : "timed out"));
await page.screenshot({ path: out });
console.log(`status: ${await page.textContent("#status")}`);
await browser.close();
