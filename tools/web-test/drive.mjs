// Drives Debian's chromium (software WebGL2 through SwiftShader) for the web display's tests and
// measurements: one JSON command a line on stdin, one JSON answer a line on stdout
// ({"ok":true,...} or {"ok":false,"error":"..."}); what the pages log goes to stderr. Each
// `user` is a browser context of its own (its own cookies: a commander and a viewer side by
// side). testkit/src/browser.rs speaks this from the Rust tests.
//
//   {"op":"open","user":"u","url":"http://…/","width":1280,"height":720}
//   {"op":"ready","user":"u","timeout_s":240}      → {"seconds":…,"stages":{name: ms}} once ready
//   {"op":"shot","user":"u","path":"/tmp/a.png"}
//   {"op":"click","user":"u","x":10,"y":20,"hold_ms":400}  (moves there, waits, presses, waits)
//   {"op":"press","user":"u","key":"Escape"}       (a key, as playwright names it)
//   {"op":"type","user":"u","text":"第6社区"}       (into whatever has the focus)
//   {"op":"text","user":"u","selector":"#status"}  → {"text":…,"visible":…}
//   {"op":"url","user":"u"}                        → {"url":…}
//   {"op":"cookies","user":"u"}                    → {"cookies":[…]}
//   {"op":"responses","user":"u"}                  → {"responses":[{"url":…,"status":…}]}
//   {"op":"frames","user":"u","seconds":10}        → {"frames":…,"mean_ms":…,"p95_ms":…}
//   {"op":"close_user","user":"u"}   {"op":"quit"}
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const started = Date.now();
const since = () => ((Date.now() - started) / 1000).toFixed(1);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
    "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run",
  ],
});
const users = new Map();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function user(name, viewport) {
  if (!users.has(name)) {
    const context = await browser.newContext({ viewport: viewport || { width: 1280, height: 720 } });
    const page = await context.newPage();
    const log = (text) => console.error(`[${name} ${since()} s] ${text}`);
    page.on("console", (m) => log(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => log(`page error: ${e}`));
    const responses = [];
    page.on("response", (r) => {
      responses.push({ url: r.url(), status: r.status() });
      if (r.status() >= 400) log(`http ${r.status()} ${r.url()}`);
    });
    // Stages the app announces (src/web.rs), kept for `ready` even if they come before it asks.
    await page.addInitScript(() => {
      window.__gridwall = {};
      for (const s of ["gridwall-drawing", "gridwall-ready"]) {
        window.addEventListener(s, () => { window.__gridwall[s] = performance.now(); });
      }
    });
    users.set(name, { context, page, responses });
  }
  return users.get(name);
}

const ops = {
  async open(c) {
    const { page } = await user(c.user, c.width && { width: c.width, height: c.height });
    const res = await page.goto(c.url);
    return { status: res ? res.status() : null, url: page.url() };
  },
  async ready(c) {
    const { page } = await user(c.user);
    const t0 = Date.now();
    await page.waitForFunction(() => window.__gridwall["gridwall-ready"], null,
      { timeout: (c.timeout_s || 240) * 1000, polling: 250 });
    // When each stage came, in ms since the page's navigation began.
    return { seconds: (Date.now() - t0) / 1000, stages: await page.evaluate(() => window.__gridwall) };
  },
  async shot(c) {
    const { page } = await user(c.user);
    await page.screenshot({ path: c.path });
    return {};
  },
  async click(c) {
    const { page } = await user(c.user);
    const hold = c.hold_ms ?? 400;
    // The display draws about a frame a second here: it must see the pointer arrive, then the
    // press, in separate frames, as a hand would give them.
    await page.mouse.move(c.x, c.y, { steps: 4 });
    await sleep(hold);
    await page.mouse.down();
    await sleep(hold);
    await page.mouse.up();
    return {};
  },
  async press(c) {
    const { page } = await user(c.user);
    await page.keyboard.press(c.key, { delay: c.hold_ms ?? 400 });
    return {};
  },
  async type(c) {
    const { page } = await user(c.user);
    await page.keyboard.type(c.text, { delay: 50 });
    return {};
  },
  async text(c) {
    const { page } = await user(c.user);
    const el = await page.$(c.selector);
    if (!el) return { text: null, visible: false };
    return { text: await el.textContent(), visible: await el.isVisible() };
  },
  async url(c) {
    const { page } = await user(c.user);
    return { url: page.url() };
  },
  async responses(c) {
    const { responses } = await user(c.user);
    return { responses };
  },
  async cookies(c) {
    const { context } = await user(c.user);
    return { cookies: await context.cookies() };
  },
  async frames(c) {
    const { page } = await user(c.user);
    // The browser calls requestAnimationFrame once per frame the app presents.
    const times = await page.evaluate((s) => new Promise((res) => {
      const t = [];
      const end = performance.now() + s * 1000;
      const tick = (now) => { t.push(now); if (now < end) requestAnimationFrame(tick); else res(t); };
      requestAnimationFrame(tick);
    }), c.seconds || 10);
    const gaps = times.slice(1).map((v, i) => v - times[i]).sort((a, b) => a - b);
    const mean = gaps.reduce((a, b) => a + b, 0) / Math.max(gaps.length, 1);
    return { frames: gaps.length, mean_ms: mean, p95_ms: gaps[Math.floor(gaps.length * 0.95)] ?? null };
  },
  async close_user(c) {
    const u = users.get(c.user);
    if (u) await u.context.close();
    users.delete(c.user);
    return {};
  },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: `not JSON: ${e}` }));
    continue;
  }
  if (c.op === "quit") break;
  try {
    const op = ops[c.op];
    if (!op) throw new Error(`unknown op ${c.op}`);
    console.log(JSON.stringify({ ok: true, ...(await op(c)) }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: String(e) }));
  }
}
await browser.close();
