// The explorer's state lives in the page URL (`/?search=lamp&category=Books`),
// so a link is shareable and back/forward restore a view. Filter names are
// the API's own, so a page URL reads like the list request it makes.

/** Every product field a column can show (id is always shown). */
export const FIELDS = [
  { key: 'sku', label: 'SKU', width: 'minmax(7rem, 1fr)' },
  { key: 'name', label: 'Name', width: 'minmax(12rem, 3fr)' },
  { key: 'category', label: 'Category', width: 'minmax(7rem, 1fr)' },
  { key: 'brand', label: 'Brand', width: 'minmax(6rem, 1fr)' },
  { key: 'price', label: 'Price', width: '6.5rem', num: true },
  { key: 'stock_quantity', label: 'Stock', width: '5rem', num: true },
  { key: 'rating', label: 'Rating', width: '4.5rem', num: true },
  { key: 'is_active', label: 'Active', width: '4.5rem' },
  { key: 'description', label: 'Description', width: 'minmax(12rem, 3fr)' },
  { key: 'created_at', label: 'Created', width: '9.5rem' },
  { key: 'updated_at', label: 'Updated', width: '9.5rem' },
];
export const DEFAULT_FIELDS = FIELDS.slice(0, 8).map((f) => f.key);
export const ID_COLUMN = { key: 'id', label: 'ID', width: '5.5rem', num: true };

const SCALARS = ['search', 'min_price', 'max_price', 'min_rating', 'in_stock', 'is_active', 'sort'];
const LISTS = ['category', 'brand'];

export function emptyState() {
  return {
    search: '', category: [], brand: [], min_price: '', max_price: '', min_rating: '',
    in_stock: '', is_active: '', sort: '', fields: [...DEFAULT_FIELDS], at: 0, product: '',
  };
}

/** The state a page URL's query string holds. */
export function fromQuery(query) {
  const q = new URLSearchParams(query);
  const s = emptyState();
  for (const k of SCALARS) s[k] = q.get(k) ?? '';
  for (const k of LISTS) s[k] = q.getAll(k);
  if (q.has('fields')) {
    const known = new Set(FIELDS.map((f) => f.key));
    s.fields = q.get('fields').split(',').filter((f) => known.has(f));
  }
  s.at = Math.max(0, Number.parseInt(q.get('at') || '0', 10) || 0);
  s.product = q.get('product') || '';
  return s;
}

/** The page URL's query string for a state (defaults left out). */
export function toQuery(s) {
  const q = new URLSearchParams();
  for (const k of SCALARS) if (s[k] !== '') q.set(k, s[k]);
  for (const k of LISTS) for (const v of s[k]) q.append(k, v);
  if (s.fields.join(',') !== DEFAULT_FIELDS.join(',')) q.set('fields', s.fields.join(','));
  if (s.at > 0) q.set('at', String(s.at));
  if (s.product) q.set('product', s.product);
  return q.toString();
}

/** The API filter parameters of a state (stats and facets take exactly these). */
export function filterParams(s) {
  const q = new URLSearchParams();
  const search = s.search.trim();
  if (search) q.set('search', search);
  for (const k of LISTS) for (const v of s[k]) q.append(k, v);
  for (const k of ['min_price', 'max_price', 'min_rating', 'in_stock', 'is_active']) {
    if (s[k] !== '') q.set(k, s[k]);
  }
  return q;
}

/** The list's parameters: the filters and the sort. */
export function listParams(s) {
  const q = filterParams(s);
  if (s.sort) q.set('sort', s.sort);
  return q;
}

/** Whether two states show the same rows (so the scroll position is kept). */
export const sameRows = (a, b) => listParams(a).toString() === listParams(b).toString();
