// The product table: a virtual scroller over `total` rows that keeps only
// the visible rows in the DOM, and the row source that fills it page by
// page from the list API.
//
// Hand-written rather than a library's (e.g. @tanstack/virtual-core): those
// size their scroll area as rows x row height, and a million 34 px rows
// (34 M px) is past the tallest element browsers lay out (about 17.9 M px
// in Firefox, 33.5 M px in Chromium). Here the scroll area is capped at
// MAX_SCROLL_PX and scroll positions are scaled onto rows; rows have one
// fixed height, which keeps the rest to a few lines. The paging (cursor
// runs, offset jumps, walks past CATALOG_MAX_OFFSET) is ours either way.

import { API, request, aborted } from './api.js';
import { cellText } from './format.js';

/** Rows per request: the API's largest page. */
export const BLOCK = 100;
/** Pages a jump past `max_offset` may walk by cursor before it is clamped. */
const WALK = 10;
/** Blocks of rows kept in memory (the cursors are always kept). */
const KEEP_BLOCKS = 400;
/** The scroll area's height cap (see the module comment). */
export const MAX_SCROLL_PX = 16_000_000;

/**
 * The rows of one listing (filters + sort), fetched in blocks of [`BLOCK`]:
 * by the cursor the previous block handed out when there is one (keyset,
 * the same cost at any depth), by `offset` otherwise (a jump), within
 * `max_offset`; past it by walking cursors from the deepest reachable block.
 */
export class RowSource {
  constructor({ params, fields, maxOffset, total, onChange }) {
    this.params = params;
    this.fields = fields;
    this.maxOffset = maxOffset;
    this.total = total;
    this.onChange = onChange;
    this.blocks = new Map();
    this.cursors = new Map();
    this.pending = new Map();
    this.failed = new Map();
    this.closed = false;
  }

  /** The deepest block an `offset` request may ask for. */
  get offsetLimitBlock() {
    return this.maxOffset == null ? Infinity : Math.floor(this.maxOffset / BLOCK);
  }

  /**
   * Opens a listing at row `at`: one request (with `count=exact`) gives the
   * total and the block that holds `at` (or the deepest reachable one).
   */
  static async open({ params, fields, maxOffset, at, signal }) {
    const source = new RowSource({ params, fields, maxOffset, total: 0 });
    const block = Math.min(Math.floor(at / BLOCK), source.offsetLimitBlock);
    const body = await source.fetch(block, signal, 'exact');
    source.total = body.total ?? body.items.length;
    source.store(block, body);
    return source;
  }

  row(i) {
    const b = this.blocks.get(Math.floor(i / BLOCK));
    return b ? b[i % BLOCK] : undefined;
  }

  has(block) {
    return this.blocks.has(block);
  }

  /** Whether `block` can be had by one request. */
  direct(block) {
    return this.cursors.has(block) || block <= this.offsetLimitBlock;
  }

  /** The nearest block at or below `block` one request reaches. */
  nearestDirect(block) {
    for (let b = block; b >= 0; b--) if (this.direct(b)) return b;
    return 0;
  }

  /** Whether `block` can be had: directly, or by a short walk of cursors. */
  reachable(block) {
    return block - this.nearestDirect(block) <= WALK;
  }

  async fetch(block, signal, count = 'none') {
    const q = new URLSearchParams();
    const cursor = this.cursors.get(block);
    if (cursor) {
      q.set('cursor', cursor);
    } else {
      for (const [k, v] of this.params) q.append(k, v);
      q.set('offset', String(block * BLOCK));
    }
    q.set('limit', String(BLOCK));
    q.set('fields', this.fields.join(','));
    q.set('count', count);
    const { body } = await request(API, { params: q, signal });
    return body;
  }

  store(block, body) {
    this.blocks.delete(block);
    this.blocks.set(block, body.items);
    if (body.next_cursor) this.cursors.set(block + 1, body.next_cursor);
    while (this.blocks.size > KEEP_BLOCKS) {
      this.blocks.delete(this.blocks.keys().next().value);
    }
  }

  /** Loads `block` (walking cursors to it if needed); resolves when stored. */
  load(block) {
    if (this.closed || block < 0 || block * BLOCK >= this.total) return Promise.resolve();
    if (this.blocks.has(block)) return Promise.resolve();
    const known = this.pending.get(block);
    if (known) return known.promise;
    const failedAt = this.failed.get(block);
    if (failedAt && performance.now() - failedAt < 2000) return Promise.resolve();
    const ctrl = new AbortController();
    const promise = (async () => {
      if (!this.direct(block)) await this.load(block - 1);
      if (ctrl.signal.aborted || this.closed) return;
      const body = await this.fetch(block, ctrl.signal);
      if (this.closed) return;
      this.store(block, body);
      this.failed.delete(block);
      this.onChange?.();
    })()
      .catch((e) => {
        if (!aborted(e)) {
          this.failed.set(block, performance.now());
          this.onChange?.(e);
        }
      })
      .finally(() => this.pending.delete(block));
    this.pending.set(block, { ctrl, promise });
    return promise;
  }

  /** Cancels the requests for blocks outside [lo, hi]. */
  retain(lo, hi) {
    for (const [b, p] of this.pending) if (b < lo - WALK || b > hi) p.ctrl.abort();
  }

  close() {
    this.closed = true;
    for (const p of this.pending.values()) p.ctrl.abort();
  }
}

/**
 * The table. `root` is the scroll container (role=grid); inside it a
 * sticky header, a sticky layer holding the visible rows, and a spacer
 * that gives the scrollbar its length (rows x row height, capped).
 */
export class VirtualGrid {
  constructor(root, { onOpen, onSort, onTopRow, onNotice }) {
    this.root = root;
    this.onOpen = onOpen;
    this.onSort = onSort;
    this.onTopRow = onTopRow;
    this.onNotice = onNotice;
    this.rowHeight = Number.parseFloat(getComputedStyle(root).getPropertyValue('--row-h')) || 34;
    this.columns = [];
    this.sort = '';
    this.source = null;
    this.active = 0;
    this.pool = [];
    this.scale = 1;
    this.frame = 0;
    this.loadTimer = 0;
    this.lastTop = -1;

    this.head = root.querySelector('.grid-head');
    this.layer = root.querySelector('.grid-layer');
    this.spacer = root.querySelector('.grid-spacer');
    this.empty = root.parentElement.querySelector('.grid-empty');

    root.addEventListener('scroll', () => this.schedule(), { passive: true });
    root.addEventListener('keydown', (e) => this.key(e));
    this.layer.addEventListener('click', (e) => {
      const row = e.target.closest('[role=row]');
      if (!row || row.dataset.index === undefined) return;
      const i = Number(row.dataset.index);
      this.setActive(i, false);
      const data = this.source?.row(i);
      if (data) this.onOpen(data, i);
    });
    this.head.addEventListener('click', (e) => {
      const button = e.target.closest('button[data-sort]');
      if (button) this.onSort(button.dataset.sort);
    });
    new ResizeObserver(() => this.schedule()).observe(root);
  }

  /** Columns: `[{key, label, width, num}]`, `id` first. */
  setColumns(columns, sort) {
    this.columns = columns;
    this.sort = sort;
    this.root.style.setProperty('--grid-cols', columns.map((c) => c.width).join(' '));
    // The narrowest a row may be: the sum of the columns' minimums; past
    // the viewport's width the table scrolls sideways (phones).
    const minRem = columns.reduce((sum, c) => sum + Number(/([\d.]+)rem/.exec(c.width)?.[1] ?? 4), 0);
    this.root.style.setProperty('--grid-min', `${minRem}rem`);
    this.root.setAttribute('aria-colcount', String(columns.length));
    const headRow = this.head.firstElementChild;
    headRow.replaceChildren(
      ...columns.map((c, n) => {
        const key = sort.replace(/^[-+]/, '');
        const dir = key === c.key ? (sort.startsWith('-') ? 'descending' : 'ascending') : 'none';
        const cell = document.createElement('div');
        cell.setAttribute('role', 'columnheader');
        cell.setAttribute('aria-colindex', String(n + 1));
        cell.setAttribute('aria-sort', dir);
        cell.className = `cell${c.num ? ' num' : ''}`;
        const b = document.createElement('button');
        b.type = 'button';
        b.dataset.sort = c.key;
        b.textContent = c.label;
        b.title = `Sort by ${c.label}`;
        const arrow = document.createElement('span');
        arrow.className = 'arrow';
        arrow.setAttribute('aria-hidden', 'true');
        arrow.textContent = dir === 'ascending' ? '▲' : dir === 'descending' ? '▼' : '';
        b.append(arrow);
        cell.append(b);
        return cell;
      }),
    );
    this.pool = [];
    this.layer.replaceChildren();
    this.schedule();
  }

  /** Shows a listing, scrolled so that row `at` is on top. */
  setSource(source, at = 0) {
    this.source?.close();
    this.source = source;
    source.onChange = (err) => {
      if (err) this.onNotice?.(`Could not load rows: ${err.message}`);
      this.schedule();
    };
    this.root.setAttribute('aria-rowcount', String(source.total + 1));
    this.empty.hidden = source.total > 0;
    this.active = Math.min(Math.max(0, at), Math.max(0, source.total - 1));
    this.lastTop = -1;
    this.layout();
    this.scrollToRow(at, 'top');
    this.render();
  }

  /** Scroll position <-> rows: `scale` rows-pixels per scroll pixel. */
  layout() {
    const total = this.source?.total ?? 0;
    const viewH = Math.max(0, this.root.clientHeight - this.head.offsetHeight);
    this.viewH = viewH;
    this.layer.style.height = `${viewH}px`;
    const rowsH = total * this.rowHeight;
    const scrollH = Math.min(rowsH, MAX_SCROLL_PX);
    this.spacer.style.height = `${Math.max(0, scrollH - viewH)}px`;
    this.scale = scrollH > viewH ? (rowsH - viewH) / (scrollH - viewH) : 1;
    this.root.dataset.scale = String(this.scale);
    this.root.dataset.rowHeight = String(this.rowHeight);
  }

  get visibleRows() {
    return Math.max(1, Math.floor(this.viewH / this.rowHeight));
  }

  scrollToRow(i, align = 'nearest') {
    const rh = this.rowHeight;
    const top = this.root.scrollTop * this.scale;
    let target = top;
    if (align === 'top' || i * rh < top) target = i * rh;
    else if ((i + 1) * rh > top + this.viewH) target = (i + 1) * rh - this.viewH;
    if (target !== top) this.root.scrollTop = Math.ceil(target / this.scale);
  }

  setActive(i, scroll = true) {
    const total = this.source?.total ?? 0;
    if (!total) return;
    this.active = Math.min(Math.max(0, i), total - 1);
    if (scroll) this.scrollToRow(this.active);
    this.schedule();
  }

  key(e) {
    if (e.target !== this.root || !this.source) return;
    const page = this.visibleRows;
    const moves = {
      ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page,
      Home: -Infinity, End: Infinity,
    };
    if (e.key in moves) {
      e.preventDefault();
      const to = this.active + moves[e.key];
      this.setActive(Number.isFinite(to) ? to : to < 0 ? 0 : this.source.total - 1);
    } else if (e.key === 'Enter') {
      const data = this.source.row(this.active);
      if (data) {
        e.preventDefault();
        this.onOpen(data, this.active);
      }
    }
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.layout();
      this.render();
    });
  }

  /** Draws the visible rows from the pool, and asks for missing blocks. */
  render() {
    const src = this.source;
    if (!src) return;
    const rh = this.rowHeight;
    const top = this.root.scrollTop * this.scale;
    const first = Math.floor(top / rh);
    const shift = first * rh - top;
    const count = Math.ceil(this.viewH / rh) + 1;
    while (this.pool.length < count) this.pool.push(this.makeRow());
    let missing = false;
    for (let j = 0; j < this.pool.length; j++) {
      const row = this.pool[j];
      const i = first + j;
      if (j >= count || i >= src.total) {
        row.hidden = true;
        continue;
      }
      row.hidden = false;
      row.style.transform = `translateY(${shift + j * rh}px)`;
      const data = src.row(i);
      if (!data) missing = true;
      this.fill(row, i, data);
    }
    const activeId = `row-${this.active}`;
    if (this.root.getAttribute('aria-activedescendant') !== activeId) {
      this.root.setAttribute('aria-activedescendant', activeId);
    }
    const last = Math.min(src.total - 1, first + count);
    if (missing) this.requestBlocks(first, last);
    else this.prefetch(first, last);
    if (first !== this.lastTop) {
      this.lastTop = first;
      this.onTopRow?.(first);
    }
  }

  makeRow() {
    const row = document.createElement('div');
    row.setAttribute('role', 'row');
    row.className = 'row';
    row.cells = this.columns.map((c, n) => {
      const cell = document.createElement('div');
      cell.setAttribute('role', 'gridcell');
      cell.setAttribute('aria-colindex', String(n + 1));
      cell.className = `cell${c.num ? ' num' : ''}`;
      row.append(cell);
      return cell;
    });
    this.layer.append(row);
    return row;
  }

  fill(row, i, data) {
    if (row.index !== i) {
      row.index = i;
      row.dataset.index = String(i);
      row.id = `row-${i}`;
      row.setAttribute('aria-rowindex', String(i + 2));
    }
    const active = i === this.active;
    if (row.isActive !== active) {
      row.isActive = active;
      row.classList.toggle('active', active);
      row.setAttribute('aria-selected', String(active));
    }
    if (row.data === data && row.shown === i) return;
    row.data = data;
    row.shown = i;
    // For docs/ui/performance.md: when the first real row reached the DOM.
    if (data && !this.firstRowsMarked) {
      this.firstRowsMarked = true;
      performance.mark('explorer:first-rows');
    }
    row.classList.toggle('pending', !data);
    this.columns.forEach((c, n) => {
      row.cells[n].textContent = data ? cellText(c.key, data[c.key]) : n === 0 ? '…' : '';
    });
  }

  /**
   * Visible blocks that are missing: those one request reaches load at
   * once; a drag far past `max_offset` is brought back to the deepest row
   * reachable (the notice says why). Loads wait for the scrollbar to rest
   * a moment, so a drag does not fetch every page it passes.
   */
  requestBlocks(first, last) {
    clearTimeout(this.loadTimer);
    this.loadTimer = setTimeout(() => {
      const src = this.source;
      if (!src) return;
      const lo = Math.floor(first / BLOCK);
      const hi = Math.floor(last / BLOCK);
      src.retain(lo, hi + 1);
      if (!src.reachable(lo)) {
        const row = src.nearestDirect(lo) * BLOCK;
        this.onNotice?.(
          `Rows past ${row.toLocaleString()} are reached by scrolling on from there: ` +
            `this server jumps at most ${src.maxOffset.toLocaleString()} rows (CATALOG_MAX_OFFSET).`,
        );
        this.scrollToRow(row, 'top');
        this.setActive(row, false);
        return;
      }
      for (let b = lo; b <= hi; b++) src.load(b);
    }, 40);
  }

  /** The next block in either direction, before it is needed. */
  prefetch(first, last) {
    const src = this.source;
    const hi = Math.floor(last / BLOCK);
    const lo = Math.floor(first / BLOCK);
    if (last % BLOCK > BLOCK / 2 && src.direct(hi + 1)) src.load(hi + 1);
    if (first % BLOCK < BLOCK / 2 && lo > 0 && src.direct(lo - 1)) src.load(lo - 1);
  }
}
