// Shared by the explorer's browser scripts: playwright-core from the
// directory the Rust test installed it in (npm ci into the target dir),
// Debian's Chromium, and small helpers.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// EXPLORER_NODE_DIR: where `npm ci` put node_modules (the Rust test sets
// it); by hand, `npm ci` in this directory works too.
const require = createRequire(join(process.env.EXPLORER_NODE_DIR || here, 'package.json'));
export const { chromium } = require('playwright-core');

/** Never a downloaded browser: Debian's, or CHROMIUM if set. */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    // Root in a container: Chromium's sandbox needs user namespaces.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

export const BASE = (process.env.EXPLORER_BASE || 'http://127.0.0.1:8080').replace(/\/$/, '');

export async function api(path, init = {}) {
  const res = await fetch(`${BASE}${path}`, init);
  const body = res.status === 204 ? null : await res.json();
  return { status: res.status, body, etag: res.headers.get('etag') };
}

/** Waits until `fn` returns a truthy value (polling), or fails naming `what`. */
export async function until(what, fn, timeout = 10_000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
