// The explorer end to end in headless Chromium, against a real `catalog
// serve` (crates/catalog/tests/explorer.rs starts it with 60,000 products
// and passes EXPLORER_BASE and EXPLORER_TOKEN). Every step asserts what a
// user would see against what the API says.

import assert from 'node:assert/strict';
import { BASE, api, launch, until } from './lib.mjs';

const TOKEN = process.env.EXPLORER_TOKEN;
assert.ok(TOKEN, 'EXPLORER_TOKEN is required');

const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
page.setDefaultTimeout(10_000);
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('console', (m) => {
  if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
});
const requests = [];
page.on('request', (r) => requests.push(r.url()));

let passed = 0;
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
  } catch (e) {
    await page.screenshot({ path: process.env.EXPLORER_FAILURE_SHOT || 'explorer-failure.png' }).catch(() => {});
    console.error(`not ok - ${name}\n${e.stack}`);
    console.error(`page URL: ${page.url()}`);
    await browser.close();
    process.exit(1);
  }
  passed++;
  console.log(`ok - ${name} (${Date.now() - t0} ms)`);
}

const grid = page.locator('#grid');
const rowId = (i) => page.locator(`#row-${i}:not(.pending) [aria-colindex="1"]`).textContent({ timeout: 10_000 });
const totalText = () => page.locator('#total').textContent();
const shownTotal = async () => Number((await totalText()).replace(/\D/g, ''));
const listTotal = async (q) => (await api(`/api/v1/products?${q}&limit=1`)).body.total;
const firstId = async (q) => (await api(`/api/v1/products?${q}&limit=1`)).body.items[0].id;
const rowsInDom = () => page.locator('.grid-layer [role=row]:not([hidden])').count();

/** Scrolls the table (as a scrollbar drag would) so that row `i` is on top. */
async function scrollToRow(i) {
  await grid.evaluate((g, i) => {
    g.scrollTop = Math.ceil((i * Number(g.dataset.rowHeight)) / Number(g.dataset.scale));
  }, i);
}

await step('the page loads, with the total, stats, facets and only the visible rows', async () => {
  const res = await page.goto(`${BASE}/`);
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-security-policy'], /script-src 'self'/);
  assert.equal(await rowId(0), String(await firstId('')));
  const total = await listTotal('');
  assert.equal(await shownTotal(), total);
  await until('stats', async () => (await page.locator('[data-stat=Products]').textContent()).replace(/\D/g, '') === String(total));
  assert.ok((await page.locator('#facet-category input').count()) >= 10, 'category facets');
  const rows = await rowsInDom();
  assert.ok(rows > 5 && rows < 60, `${rows} rows in the DOM`);
  assert.equal(await grid.getAttribute('aria-rowcount'), String(total + 1));
  // The scrollbar means something: its length is the rows' (capped, scaled).
  const { scrollHeight, clientHeight, scale, rowHeight } = await grid.evaluate((g) => ({
    scrollHeight: g.scrollHeight, clientHeight: g.clientHeight,
    scale: Number(g.dataset.scale), rowHeight: Number(g.dataset.rowHeight),
  }));
  const headH = rowHeight;
  const expected = (total * rowHeight - (clientHeight - headH)) / scale + clientHeight;
  assert.ok(Math.abs(scrollHeight - expected) < 4, `scrollHeight ${scrollHeight}, expected ${expected}`);
});

await step('scrolling to row 50,000 shows the product the API lists at offset 50,000', async () => {
  await scrollToRow(50_000);
  const expected = (await api('/api/v1/products?offset=50000&limit=1')).body.items[0];
  assert.equal(await rowId(50_000), String(expected.id));
  const name = await page.locator('#row-50000 [aria-colindex="3"]').textContent();
  assert.equal(name, expected.name);
  assert.equal(await page.locator('#row-50000').getAttribute('aria-rowindex'), '50002');
  assert.ok((await rowsInDom()) < 60, 'still only the visible rows');
  assert.ok(requests.some((u) => u.includes('offset=50000')), 'the jump asked by offset');
  // Scrolling on past the block continues by cursor.
  const before = requests.length;
  await scrollToRow(50_090);
  const next = (await api('/api/v1/products?offset=50105&limit=1')).body.items[0];
  assert.equal(await rowId(50_105), String(next.id));
  assert.ok(requests.slice(before).some((u) => u.includes('cursor=')), 'the next page came by cursor');
  await until('the URL keeps the position', () => page.url().includes('at=50090'));
});

let searchTotal;
await step('typing a search narrows the rows and the total', async () => {
  await page.locator('#search').click();
  await page.keyboard.type('hooli', { delay: 40 });
  searchTotal = await listTotal('search=hooli');
  assert.ok(searchTotal > 0 && searchTotal < 60_000, `search total ${searchTotal}`);
  await until('the search total', async () => (await shownTotal()) === searchTotal);
  assert.equal(await rowId(0), String(await firstId('search=hooli')));
  const names = await page.locator('.grid-layer [role=row]:not([hidden]):not(.pending) [aria-colindex="3"]').allTextContents();
  assert.ok(names.length > 0);
  for (const n of names) assert.match(n, /hooli/i);
  await until('stats follow the search', async () =>
    (await page.locator('[data-stat=Products]').textContent()).replace(/\D/g, '') === String(searchTotal));
  await until('the URL holds the search', async () => page.url().includes('search=hooli'));
});

let facetTotal;
await step('a facet click narrows, and the other values keep their counts (disjunctive)', async () => {
  const countOf = async (v) => Number((await page.locator(`#facet-category li:has(input[value="${v}"]) .count`).textContent()).replace(/\D/g, ''));
  const toysBefore = await countOf('Toys');
  await page.locator('#facet-category input[value="Sports"]').check();
  facetTotal = await listTotal('search=hooli&category=Sports');
  await until('the facet total', async () => (await shownTotal()) === facetTotal);
  assert.ok(facetTotal > 0 && facetTotal <= searchTotal);
  await until('facets reloaded', async () => (await page.locator('#facet-category input[value="Sports"]').isChecked()));
  await page.waitForTimeout(400);
  assert.equal(await countOf('Toys'), toysBefore, 'Toys keeps its count');
  const cats = await page.locator('.grid-layer [role=row]:not([hidden]):not(.pending) [aria-colindex="4"]').allTextContents();
  for (const c of cats) assert.equal(c, 'Sports');
});

await step('a click on a column header sorts, a second reverses', async () => {
  await page.locator('[role=columnheader] button[data-sort=price]').click();
  const q = 'search=hooli&category=Sports';
  await until('ascending', async () => (await rowId(0)) === String(await firstId(`${q}&sort=price`)));
  assert.equal(await page.locator('[role=columnheader]:has(button[data-sort=price])').getAttribute('aria-sort'), 'ascending');
  await page.locator('[role=columnheader] button[data-sort=price]').click();
  await until('descending', async () => (await rowId(0)) === String(await firstId(`${q}&sort=-price`)));
  assert.equal(await page.locator('[role=columnheader]:has(button[data-sort=price])').getAttribute('aria-sort'), 'descending');
});

await step('the back button restores the previous filters', async () => {
  await page.goBack();
  await until('ascending again', async () =>
    (await page.locator('[role=columnheader]:has(button[data-sort=price])').getAttribute('aria-sort')) === 'ascending');
  await page.goBack();
  await until('unsorted', async () =>
    (await page.locator('[role=columnheader]:has(button[data-sort=price])').getAttribute('aria-sort')) === 'none');
  assert.equal(await shownTotal(), facetTotal);
  await page.goBack();
  await until('the search alone', async () => (await shownTotal()) === searchTotal);
  assert.equal(await page.locator('#facet-category input[value="Sports"]').isChecked(), false);
  assert.equal(await page.locator('#search').inputValue(), 'hooli');
  await page.goForward();
  await until('forward: the facet again', async () => (await shownTotal()) === facetTotal);
});

await step('the column chooser asks only for the chosen fields', async () => {
  await page.locator('summary', { hasText: 'Columns' }).click();
  const before = requests.length;
  await page.locator('#column-list input[value=description]').check();
  await until('a description column', () => page.locator('[role=columnheader] button[data-sort=description]').count());
  await page.locator('#column-list input[value=description]').uncheck();
  await page.locator('summary', { hasText: 'Columns' }).click();
  const lists = requests.slice(before).filter((u) => u.includes('/api/v1/products?'));
  assert.ok(lists.some((u) => decodeURIComponent(u).includes('fields=sku,name,category,brand,price,stock_quantity,rating,is_active,description')), lists.join('\n'));
});

await step('the keyboard: arrows move through rows, Enter opens, Esc closes', async () => {
  await page.goto(`${BASE}/`);
  await rowId(0);
  await grid.focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await until('row 2 active', async () => (await grid.getAttribute('aria-activedescendant')) === 'row-2');
  assert.equal(await page.locator('#row-2').getAttribute('aria-selected'), 'true');
  const id = await rowId(2);
  await page.keyboard.press('Enter');
  const dialog = page.locator('dialog#detail');
  await until('the dialog', () => dialog.isVisible());
  await until('the product in it', async () => (await page.locator('#detail [name=sku]').inputValue()) !== '');
  // The URL follows the dialog asynchronously (history entries): wait for it.
  await until('the URL names the product', async () => page.url().includes(`product=${id}`));
  await page.keyboard.press('Escape');
  await until('closed', async () => !(await dialog.isVisible()));
  await until('the URL forgets the product', async () => !page.url().includes('product='));
});

/** Opens product `id`'s detail by its link, with the token set. */
async function openDetail(id) {
  await page.goto(`${BASE}/?product=${id}`);
  await until('the product', async () => (await page.locator('#detail [name=sku]').inputValue()) !== '');
}

await step('the token is pasted once and kept for the session', async () => {
  await page.goto(`${BASE}/`);
  await page.locator('#token-button').click();
  await page.locator('#token-dialog [name=token]').fill(TOKEN);
  await page.locator('#token-dialog button[value=save]').click();
  await page.reload();
  assert.equal(await page.locator('#token-button').textContent(), 'Token ✓');
});

await step('an edit refused with a field error, then accepted', async () => {
  await openDetail(7);
  await page.locator('#detail [name=price]').fill('-5');
  await page.locator('#detail [data-action=save]').click();
  const error = page.locator('#detail [data-error-for=price]');
  await until('the price error', async () => (await error.textContent()) !== '');
  assert.equal(await page.locator('#detail [name=price]').getAttribute('aria-invalid'), 'true');
  assert.equal((await api('/api/v1/products/7')).body.price !== -5, true);
  await page.locator('#detail [name=price]').fill('12.34');
  await page.locator('#detail [data-action=save]').click();
  await until('saved', async () => (await page.locator('#detail .form-message').textContent()) === 'Saved.');
  assert.equal(await error.textContent(), '');
  assert.equal((await api('/api/v1/products/7')).body.price, 12.34);
});

await step('a 412: changed behind the page\'s back, shown, then re-applied', async () => {
  await openDetail(8);
  const patched = await api('/api/v1/products/8', {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/merge-patch+json' },
    body: JSON.stringify({ name: 'Changed elsewhere' }),
  });
  assert.equal(patched.status, 200);
  await page.locator('#detail [name=stock_quantity]').fill('77');
  await page.locator('#detail [data-action=save]').click();
  const conflict = page.locator('#detail .conflict');
  await until('the conflict', () => conflict.isVisible());
  assert.match(await conflict.textContent(), /Changed elsewhere/);
  assert.match(await page.locator('#detail .form-message').textContent(), /412/);
  await page.locator('#detail [data-action=reapply]').click();
  await until('saved', async () => (await page.locator('#detail .form-message').textContent()) === 'Saved.');
  const now = (await api('/api/v1/products/8')).body;
  assert.equal(now.name, 'Changed elsewhere');
  assert.equal(now.stock_quantity, 77);
});

await step('create, then delete', async () => {
  await page.goto(`${BASE}/`);
  await page.locator('#new-product').click();
  const f = (k) => page.locator(`#detail [name=${k}]`);
  await f('sku').fill('UI-E2E-1');
  await f('name').fill('Explorer test lamp');
  await f('category').fill('Home & Kitchen');
  await f('brand').fill('Acme');
  await f('price').fill('19.99');
  await page.locator('#detail [data-action=save]').click();
  await until('created', async () => /Created product #\d+/.test(await page.locator('#detail .form-message').textContent()));
  const id = /#(\d+)/.exec(await page.locator('#detail .form-message').textContent())[1];
  assert.equal((await api(`/api/v1/products/${id}`)).body.sku, 'UI-E2E-1');
  await page.locator('#detail [data-action=delete]').click();
  await page.locator('#detail [data-action=delete]').click();
  await until('deleted', async () => (await api(`/api/v1/products/${id}`)).status === 404);
  // The page closes the dialog when its own DELETE answers, which can come
  // after the API already says 404 (CI caught the race).
  await until('the dialog closes', async () => !(await page.locator('dialog#detail').isVisible()));
});

// A second server with CATALOG_MAX_OFFSET=1000 and 3,000 products (ids
// 1..3000 in order, so row i holds id i + 1).
const CAPPED = process.env.EXPLORER_CAPPED_BASE;
if (CAPPED) {
  await step('past CATALOG_MAX_OFFSET a drag is clamped, and cursors walk on from there', async () => {
    const config = await (await fetch(`${CAPPED}/explorer/config.json`)).json();
    assert.equal(config.max_offset, 1000);
    await page.goto(`${CAPPED}/`);
    assert.equal(await rowId(0), '1');
    await scrollToRow(2500);
    await until('the notice', async () => /CATALOG_MAX_OFFSET/.test(await page.locator('#notice').textContent()));
    assert.equal(await rowId(1000), '1001');
    // Rows past the limit, within a short walk of cursors from there.
    await scrollToRow(1600);
    assert.equal(await rowId(1600), '1601');
    assert.equal(await rowId(1610), '1611');
    const deep = requests.filter((u) => u.startsWith(CAPPED) && /offset=(\d+)/.test(u) && Number(/offset=(\d+)/.exec(u)[1]) > 1000);
    assert.deepEqual(deep, [], 'no offset past the limit was asked for');
  });
}

await step('no script error and no policy violation on the way', async () => {
  assert.deepEqual(problems, []);
});

await browser.close();
console.log(`explorer: all ${passed} steps passed`);
