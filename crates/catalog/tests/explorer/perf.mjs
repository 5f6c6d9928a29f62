// Measures the explorer in headless Chromium (docs/ui/performance.md):
//
// - first paint: first-contentful-paint, and the first rows in the DOM
//   (navigation start to the page's 'explorer:first-rows' mark, set when
//   the first row is filled; painted in that frame), over fresh loads;
// - keystroke to rows: a search typed at about 8 keys a second; for each
//   answer that reaches the screen, the time from the last keystroke
//   before it to the frame that shows it (the 50 ms debounce included);
// - scrolling: wheel scrolling and scrollbar jumps for a while, with every
//   long task (PerformanceObserver 'longtask', > 50 ms) and the frame
//   times (requestAnimationFrame deltas) recorded.
//
//   EXPLORER_BASE=http://127.0.0.1:8091 node crates/catalog/tests/explorer/perf.mjs

import { BASE, launch, until } from './lib.mjs';

const browser = await launch();
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: q(0.5), p95: q(0.95), max: s[s.length - 1] };
};
const ms = (x) => `${x.toFixed(0)} ms`;
const round = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 10) / 10]));

// ---- first paint ----
const fcp = [];
const firstRows = [];
for (let i = 0; i < 7; i++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${BASE}/`);
  await until('rows', () => page.locator('#row-0:not(.pending)').count());
  const t = await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => {
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    const rows = performance.getEntriesByName('explorer:first-rows')[0];
    resolve({ fcp: paint ? paint.startTime : NaN, rows: rows ? rows.startTime : NaN });
  })));
  // The first load warms the server's cache and the browser's module
  // parse; both are what a second visitor gets.
  if (i > 0) {
    fcp.push(t.fcp);
    firstRows.push(t.rows);
  }
  await context.close();
}

// ---- keystroke to rows ----
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.goto(`${BASE}/`);
await until('rows', () => page.locator('#row-0:not(.pending)').count());
await page.evaluate(() => {
  window.__lastKey = 0;
  window.__keyToRows = [];
  document.querySelector('#search').addEventListener('keydown', (e) => { window.__lastKey = e.timeStamp; }, true);
  new PerformanceObserver((list) => {
    for (const m of list.getEntries()) {
      if (m.name !== 'explorer:rows' || !window.__lastKey) continue;
      const key = window.__lastKey;
      requestAnimationFrame(() => window.__keyToRows.push(performance.now() - key));
    }
  }).observe({ type: 'mark' });
});
const words = ['wireless', 'lamp', 'oscorp jacket', 'tablet', 'yoga mat', 'coffee', 'helmet', 'keyboard', 'perfume black', 'dash cam'];
for (const w of words) {
  await page.locator('#search').fill('');
  await page.waitForTimeout(400);
  await page.locator('#search').focus();
  await page.keyboard.type(w, { delay: 120 });
  await page.waitForTimeout(600);
}
const keyToRows = await page.evaluate(() => window.__keyToRows);

// ---- scrolling ----
await page.goto(`${BASE}/`);
await until('rows', () => page.locator('#row-0:not(.pending)').count());
await page.evaluate(() => {
  window.__long = [];
  window.__frames = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__long.push(e.duration);
  }).observe({ type: 'longtask' });
  let last = performance.now();
  const tick = (now) => {
    window.__frames.push(now - last);
    last = now;
    if (!window.__stop) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
});
const box = await page.locator('#grid').boundingBox();
await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
// Wheel scrolling: 4 s of steady notches.
const wheelEnd = Date.now() + 4000;
while (Date.now() < wheelEnd) {
  await page.mouse.wheel(0, 240);
  await page.waitForTimeout(16);
}
// Scrollbar drags: 12 jumps anywhere in the list, each left to settle.
for (let i = 1; i <= 12; i++) {
  await page.locator('#grid').evaluate((g, f) => { g.scrollTop = f * (g.scrollHeight - g.clientHeight); }, ((i * 0.618) % 1));
  await page.waitForTimeout(350);
}
// Keyboard: PageDown through a few screens.
await page.locator('#grid').focus();
for (let i = 0; i < 20; i++) {
  await page.keyboard.press('PageDown');
  await page.waitForTimeout(30);
}
await page.waitForTimeout(300);
const scroll = await page.evaluate(() => {
  window.__stop = true;
  return { long: window.__long, frames: window.__frames.slice(1) };
});
const total = await page.locator('#total').textContent();
await browser.close();

const result = {
  base: BASE,
  total,
  first_contentful_paint: round(stats(fcp)),
  first_rows_on_screen: round(stats(firstRows)),
  keystroke_to_rows: round(stats(keyToRows)),
  scroll_frames: round(stats(scroll.frames)),
  long_tasks: { count: scroll.long.length, max: scroll.long.length ? Math.max(...scroll.long) : 0, all: scroll.long.map(Math.round) },
};
console.log(JSON.stringify(result, null, 2));
console.log(`first paint ${ms(result.first_contentful_paint.median)} (rows ${ms(result.first_rows_on_screen.median)}), ` +
  `keystroke to rows median ${ms(result.keystroke_to_rows.median)} p95 ${ms(result.keystroke_to_rows.p95)}, ` +
  `${scroll.long.length} long tasks while scrolling, frame p95 ${ms(result.scroll_frames.p95)}`);
