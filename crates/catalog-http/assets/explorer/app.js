// The catalog explorer: wires the URL state, the table, the filters, the
// stats bar and the detail panel together. Plain ES modules, no build.

import { API, ApiError, aborted, getJson, token } from './api.js';
import { Detail } from './detail.js';
import { debounce, el, fmtCount, fmtMoney, fmtRating } from './format.js';
import { RowSource, VirtualGrid } from './grid.js';
import { FIELDS, ID_COLUMN, filterParams, fromQuery, listParams, sameRows, toQuery } from './state.js';

/** Keystroke to request: short, the previous request is cancelled anyway. */
const SEARCH_DEBOUNCE_MS = 50;
/** Stats and facets are heavier and less urgent than the rows. */
const SUMMARY_DEBOUNCE_MS = 150;

const $ = (sel) => document.querySelector(sel);
// Fetched beside the first page, not before it (no top-level await).
const configReady = getJson('/explorer/config.json').catch(() => ({ max_offset: null }));

let state = fromQuery(location.search);
let lastKind = null;
let rowsCtrl = null;
let summaryCtrl = null;
let lastFacets = null;

const notice = $('#notice');
function say(text, kind = 'info') {
  notice.textContent = text;
  notice.dataset.kind = kind;
}

// ---- the URL holds the state ------------------------------------------------

function url(s) {
  const q = toQuery(s);
  return q ? `/?${q}` : '/';
}

/**
 * Moves to state `next`. `push` adds a history entry (back returns here);
 * a run of changes of one `kind` (typing a search) shares one entry.
 */
function commit(next, { push = true, kind = null } = {}) {
  const prev = state;
  state = next;
  if (push && !(kind && kind === lastKind)) history.pushState(null, '', url(state));
  else history.replaceState(null, '', url(state));
  if (push) lastKind = kind;
  apply(prev);
}

window.addEventListener('popstate', () => {
  const prev = state;
  state = fromQuery(location.search);
  lastKind = null;
  apply(prev, { restoring: true });
});

/** Brings the page in line with `state`, coming from `prev`. */
function apply(prev, { restoring = false } = {}) {
  syncControls();
  const columnsChanged = prev.fields.join() !== state.fields.join() || prev.sort !== state.sort;
  if (columnsChanged) grid.setColumns(columns(), state.sort);
  if (!sameRows(prev, state) || columnsChanged || restoring) {
    loadRows(restoring ? state.at : 0);
  }
  if (filterParams(prev).toString() !== filterParams(state).toString()) loadSummarySoon();
  if (prev.product !== state.product || restoring) {
    if (state.product && String(detail.product?.id) !== state.product) detail.open(state.product);
    if (!state.product) detail.close();
  }
}

const columns = () => [ID_COLUMN, ...state.fields.map((k) => FIELDS.find((f) => f.key === k))];

// ---- the table --------------------------------------------------------------

const grid = new VirtualGrid($('#grid'), {
  onOpen: (row) => commit({ ...state, product: String(row.id) }, { push: false }),
  onSort: (key) => {
    const sort = state.sort === key ? `-${key}` : state.sort === `-${key}` ? '' : key;
    commit({ ...state, sort, at: 0 });
  },
  onTopRow: debounce((at) => {
    if (at === state.at) return;
    state = { ...state, at };
    history.replaceState(null, '', url(state));
  }, 300),
  onNotice: (text) => say(text, 'warn'),
});

/**
 * Loads the listing's first block (and total) at row `at`. The previous
 * load is aborted, and an answer that arrives after a newer load started
 * is dropped: a stale answer never replaces a newer one.
 */
async function loadRows(at) {
  rowsCtrl?.abort();
  const ctrl = new AbortController();
  rowsCtrl = ctrl;
  const started = performance.now();
  $('#grid').setAttribute('aria-busy', 'true');
  try {
    const config = await configReady;
    const source = await RowSource.open({
      params: listParams(state),
      fields: state.fields,
      maxOffset: config.max_offset,
      at,
      signal: ctrl.signal,
    });
    if (ctrl.signal.aborted) return;
    clearFilterErrors();
    grid.setSource(source, Math.min(at, Math.max(0, source.total - 1)));
    $('#total').textContent = `${fmtCount(source.total)} ${source.total === 1 ? 'product' : 'products'}`;
    $('#grid').setAttribute('aria-busy', 'false');
    performance.mark('explorer:rows', { detail: { ms: performance.now() - started, search: state.search } });
    if (notice.dataset.kind === 'error') say('');
  } catch (e) {
    if (aborted(e) || ctrl.signal.aborted) return;
    $('#grid').setAttribute('aria-busy', 'false');
    showFilterErrors(e);
  }
}

// ---- stats and facets ----------------------------------------------------

const loadSummarySoon = debounce(loadSummary, SUMMARY_DEBOUNCE_MS);

async function loadSummary() {
  summaryCtrl?.abort();
  const ctrl = new AbortController();
  summaryCtrl = ctrl;
  const q = filterParams(state);
  try {
    const [stats, facets] = await Promise.all([
      getJson(`${API}/stats`, q, ctrl.signal),
      getJson(`${API}/facets`, q, ctrl.signal),
    ]);
    if (ctrl.signal.aborted) return;
    renderStats(stats);
    lastFacets = facets;
    renderFacets(facets);
  } catch (e) {
    if (aborted(e) || ctrl.signal.aborted) return;
    if (!(e instanceof ApiError && e.status === 422)) say(`Could not load the stats: ${e.message}`, 'error');
  }
}

function renderStats(s) {
  const price = s.price || {};
  const items = [
    ['Products', fmtCount(s.total_products)],
    ['Active', fmtCount(s.active_products)],
    ['In stock', fmtCount(s.in_stock_products)],
    ['Price', price.min == null ? '–' : `${fmtMoney(price.min)} – ${fmtMoney(price.max)}`],
    ['Avg price', fmtMoney(price.avg)],
    ['Avg rating', fmtRating(s.average_rating)],
  ];
  $('#stats').replaceChildren(
    ...items.map(([k, v]) => el('div', { class: 'stat' }, el('dt', { text: k }), el('dd', { text: v, 'data-stat': k }))),
  );
}

const PRICE_LABEL = (b) => (b.max == null ? `${fmtMoney(b.min)} +` : `${fmtMoney(b.min)} – ${fmtMoney(b.max)}`);

function renderFacets(f) {
  for (const key of ['category', 'brand']) {
    const list = $(`#facet-${key}`);
    const selected = new Set(state[key]);
    // Selected values the answer lacks (a value no product has) stay
    // visible, so that they can be unticked.
    const values = [...f[key]];
    for (const v of selected) if (!values.some((x) => x.value === v)) values.push({ value: v, count: 0 });
    list.replaceChildren(
      ...values.map((v) =>
        el('li', {},
          el('label', {},
            el('input', { type: 'checkbox', checked: selected.has(v.value), 'data-facet': key, value: v.value }),
            el('span', { class: 'facet-name', text: v.value }),
            el('span', { class: 'count', text: fmtCount(v.count) }),
          ),
        ),
      ),
    );
  }
  const priceMax = (b) => (b.max == null ? '' : (b.max - 0.01).toFixed(2));
  $('#facet-price').replaceChildren(
    ...f.price.map((b) => {
      const on = state.min_price === String(b.min.toFixed(2)) && state.max_price === priceMax(b);
      return el('li', {}, el('button', {
        type: 'button', class: 'facet-button', 'aria-pressed': String(on),
        'data-min': b.min.toFixed(2), 'data-max': priceMax(b),
      }, el('span', { text: PRICE_LABEL(b) }), el('span', { class: 'count', text: fmtCount(b.count) })));
    }),
  );
  $('#facet-rating').replaceChildren(
    ...f.rating.map((b) => {
      const on = state.min_rating === String(b.min);
      return el('li', {}, el('button', {
        type: 'button', class: 'facet-button', 'aria-pressed': String(on), 'data-rating': String(b.min),
      }, el('span', { text: `${'★'.repeat(b.min)} & up` }), el('span', { class: 'count', text: fmtCount(b.count) })));
    }),
  );
  $('#facet-stock').replaceChildren(
    ...f.in_stock.map((b) => {
      const on = state.in_stock === String(b.value);
      return el('li', {}, el('button', {
        type: 'button', class: 'facet-button', 'aria-pressed': String(on), 'data-stock': String(b.value),
      }, el('span', { text: b.value ? 'In stock' : 'Out of stock' }), el('span', { class: 'count', text: fmtCount(b.count) })));
    }),
  );
}

$('#sidebar').addEventListener('change', (e) => {
  const t = e.target;
  if (t.dataset.facet) {
    const key = t.dataset.facet;
    const values = t.checked ? [...state[key], t.value] : state[key].filter((v) => v !== t.value);
    commit({ ...state, [key]: values, at: 0 });
  } else if (t.name && t.name in state) {
    commit({ ...state, [t.name]: t.value.trim(), at: 0 });
  }
});

$('#sidebar').addEventListener('click', (e) => {
  const b = e.target.closest('.facet-button');
  if (!b) return;
  const on = b.getAttribute('aria-pressed') === 'true';
  if (b.dataset.min !== undefined) {
    commit({ ...state, min_price: on ? '' : b.dataset.min, max_price: on ? '' : b.dataset.max, at: 0 });
  } else if (b.dataset.rating !== undefined) {
    commit({ ...state, min_rating: on ? '' : b.dataset.rating, at: 0 });
  } else if (b.dataset.stock !== undefined) {
    commit({ ...state, in_stock: on ? '' : b.dataset.stock, at: 0 });
  }
});

// ---- filter controls, chips, errors -------------------------------------

const FILTER_INPUTS = ['min_price', 'max_price', 'min_rating', 'in_stock', 'is_active'];

function syncControls() {
  const search = $('#search');
  if (document.activeElement !== search || search.value.trim() !== state.search.trim()) {
    if (search.value !== state.search) search.value = state.search;
  }
  for (const name of FILTER_INPUTS) {
    const input = $(`#sidebar [name=${name}]`);
    if (input && input.value !== state[name]) input.value = state[name];
  }
  for (const box of $('#column-list').querySelectorAll('input')) box.checked = state.fields.includes(box.value);
  renderChips();
  if (lastFacets) renderFacets(lastFacets);
}

const CHIP_LABELS = {
  search: 'Search', min_price: 'Price ≥', max_price: 'Price ≤', min_rating: 'Rating ≥',
  in_stock: 'In stock', is_active: 'Active',
};

function renderChips() {
  const chips = [];
  for (const key of ['category', 'brand']) {
    for (const v of state[key]) chips.push([`${key === 'category' ? 'Category' : 'Brand'}: ${v}`, { ...state, [key]: state[key].filter((x) => x !== v) }]);
  }
  for (const [key, label] of Object.entries(CHIP_LABELS)) {
    if (state[key] !== '') chips.push([`${label} ${state[key]}`, { ...state, [key]: '' }]);
  }
  const box = $('#chips');
  box.replaceChildren(
    ...chips.map(([text, next]) =>
      el('button', { type: 'button', class: 'chip', title: 'Remove this filter', onclick: () => commit({ ...next, at: 0 }) },
        el('span', { text }), el('span', { 'aria-hidden': 'true', text: ' ×' }))),
  );
  if (chips.length > 1) {
    box.append(el('button', {
      type: 'button', class: 'chip clear', text: 'Clear all',
      onclick: () => commit({ ...state, search: '', category: [], brand: [], min_price: '', max_price: '', min_rating: '', in_stock: '', is_active: '', at: 0 }),
    }));
  }
  box.hidden = chips.length === 0;
}

function clearFilterErrors() {
  for (const p of document.querySelectorAll('#controls-errors [data-error-for], #sidebar [data-error-for]')) p.textContent = '';
}

/** A 422 on the filters: each message beside its input. */
function showFilterErrors(e) {
  clearFilterErrors();
  if (!(e instanceof ApiError)) return say(`Could not load products: ${e.message}`, 'error');
  const loose = [];
  for (const [field, message] of Object.entries(e.fieldErrors)) {
    const slot = document.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
    if (slot) slot.textContent = message;
    else loose.push(`${field}: ${message}`);
  }
  say([e.problem.title || e.message, ...loose].join(' — '), 'error');
}

// ---- search, columns, toolbar ---------------------------------------------

const searchNow = debounce((value) => commit({ ...state, search: value, at: 0 }, { kind: 'search' }), SEARCH_DEBOUNCE_MS);
$('#search').addEventListener('input', (e) => {
  performance.mark('explorer:keystroke');
  searchNow(e.target.value);
});
$('#search').addEventListener('keydown', (e) => {
  if (e.key === 'ArrowDown') {
    e.preventDefault();
    $('#grid').focus();
  }
});

$('#column-list').replaceChildren(
  ...FIELDS.map((f) =>
    el('label', {}, el('input', { type: 'checkbox', value: f.key, checked: state.fields.includes(f.key) }), el('span', { text: f.label }))),
);
$('#column-list').addEventListener('change', () => {
  const chosen = [...$('#column-list').querySelectorAll('input:checked')].map((i) => i.value);
  commit({ ...state, fields: FIELDS.map((f) => f.key).filter((k) => chosen.includes(k)) });
});

$('#filters-toggle').addEventListener('click', () => {
  const open = document.body.classList.toggle('filters-open');
  $('#filters-toggle').setAttribute('aria-expanded', String(open));
});

// ---- token and detail ----------------------------------------------------

const tokenDialog = $('#token-dialog');
function renderTokenButton() {
  $('#token-button').textContent = token.get() ? 'Token ✓' : 'Token';
}
function askToken(why = '') {
  tokenDialog.querySelector('.why').textContent = why;
  tokenDialog.querySelector('input').value = token.get();
  tokenDialog.showModal();
}
$('#token-button').addEventListener('click', () => askToken());
tokenDialog.querySelector('form').addEventListener('submit', (e) => {
  e.preventDefault();
  const action = e.submitter?.value;
  if (action === 'save') token.set(tokenDialog.querySelector('input').value);
  if (action === 'forget') token.set('');
  tokenDialog.close();
  renderTokenButton();
});

/** After a write: the same view, fetched again where it was. */
function refresh() {
  loadRows(state.at);
  loadSummary();
}

const detail = new Detail($('#detail'), {
  onSaved: (product, created) => {
    if (created) state = { ...state, product: String(product.id) };
    history.replaceState(null, '', url(state));
    refresh();
  },
  onDeleted: (id) => {
    say(`Deleted product #${id}.`, 'ok');
    refresh();
  },
  onClosed: () => {
    if (state.product) commit({ ...state, product: '' }, { push: false });
    $('#grid').focus();
  },
  askToken,
});
$('#new-product').addEventListener('click', () => detail.openNew());

// ---- start ---------------------------------------------------------------

renderTokenButton();
grid.setColumns(columns(), state.sort);
syncControls();
loadRows(state.at);
loadSummary();
if (state.product) detail.open(state.product);
configReady.then((config) => {
  if (config.writes_enabled === false) {
    $('#new-product').title = 'This server has no CATALOG_JWT_SECRET: writes are refused.';
    $('#token-button').title = 'This server has no CATALOG_JWT_SECRET: writes are refused.';
  }
});
$('#close-filters').addEventListener('click', () => {
  document.body.classList.remove('filters-open');
  $('#filters-toggle').setAttribute('aria-expanded', 'false');
});
