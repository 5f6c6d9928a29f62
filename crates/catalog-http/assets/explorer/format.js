// Formatting and small helpers shared by the explorer's modules.

const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const count = new Intl.NumberFormat();

export const fmtMoney = (v) => (v == null ? '–' : money.format(v));
export const fmtCount = (v) => (v == null ? '–' : count.format(v));
export const fmtRating = (v) => (v == null ? '–' : Number(v).toFixed(1));

export function fmtDate(v) {
  if (!v) return '';
  // RFC 3339 UTC from the server; shown as YYYY-MM-DD HH:MM in UTC so that
  // every user of a shared link reads the same value.
  return String(v).slice(0, 16).replace('T', ' ');
}

/** The text a cell shows for a product field. */
export function cellText(field, value) {
  switch (field) {
    case 'price': return fmtMoney(value);
    case 'rating': return fmtRating(value);
    case 'stock_quantity': return fmtCount(value);
    case 'is_active': return value == null ? '' : value ? 'yes' : 'no';
    case 'created_at':
    case 'updated_at': return fmtDate(value);
    default: return value == null ? '' : String(value);
  }
}

/** `fn` called once calls have stopped for `ms`; `.cancel()` drops a pending call. */
export function debounce(fn, ms) {
  let timer = 0;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** `document.createElement` with properties and children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c != null) node.append(c);
  }
  return node;
}
