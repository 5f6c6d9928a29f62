// Screenshots of the explorer for docs/ui/, at 1280x800 and 390x844, light
// and dark. Run against a served catalog (any size):
//
//   EXPLORER_BASE=http://127.0.0.1:8080 node crates/catalog/tests/explorer/screenshots.mjs
//
// (after `npm ci` in this directory, or with EXPLORER_NODE_DIR pointing at
// an installed copy). Writes docs/ui/*.png.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE, launch, until } from './lib.mjs';

const out = join(dirname(fileURLToPath(import.meta.url)), '../../../../docs/ui');
mkdirSync(out, { recursive: true });

const browser = await launch();

async function shot(name, { width, height, colorScheme = 'light', path = '/', then }) {
  const page = await browser.newPage({ viewport: { width, height }, colorScheme, deviceScaleFactor: 1 });
  await page.goto(`${BASE}${path}`);
  await until('rows', () => page.locator('#row-0:not(.pending), .grid-empty:not([hidden])').count());
  await until('stats', () => page.locator('[data-stat=Products]').count());
  if (then) await then(page);
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(out, name) });
  await page.close();
  console.log(`wrote docs/ui/${name}`);
}

const filtered = '/?search=wireless&category=Electronics&category=Computers&sort=-rating';
await shot('explorer-1280x800.png', { width: 1280, height: 800, path: filtered });
await shot('explorer-1280x800-dark.png', { width: 1280, height: 800, colorScheme: 'dark' });
await shot('explorer-390x844.png', { width: 390, height: 844 });
await shot('explorer-390x844-detail.png', {
  width: 390, height: 844, path: '/?product=42',
  then: (page) => until('detail', async () => (await page.locator('#detail [name=sku]').inputValue()) !== ''),
});
await shot('explorer-390x844-filters-dark.png', {
  width: 390, height: 844, colorScheme: 'dark', path: '/?category=Books&min_rating=4',
  then: (page) => page.locator('#filters-toggle').click(),
});
await browser.close();
