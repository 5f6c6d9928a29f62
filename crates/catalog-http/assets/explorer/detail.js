// The detail panel (a modal dialog): view, create, edit and delete one
// product. Edits are JSON Merge Patches of the changed fields, sent with
// If-Match; a 412 shows what changed meanwhile and offers to re-apply.

import { API, ApiError, request, token } from './api.js';
import { cellText } from './format.js';

/** The form's fields, in order, with how a value is read from its input. */
const FORM = [
  { key: 'sku', type: 'text' },
  { key: 'name', type: 'text' },
  { key: 'description', type: 'text' },
  { key: 'category', type: 'text' },
  { key: 'brand', type: 'text' },
  { key: 'price', type: 'number' },
  { key: 'stock_quantity', type: 'number' },
  { key: 'rating', type: 'number' },
  { key: 'is_active', type: 'bool' },
];
const LABELS = {
  sku: 'SKU', name: 'Name', description: 'Description', category: 'Category', brand: 'Brand',
  price: 'Price', stock_quantity: 'Stock', rating: 'Rating', is_active: 'Active',
};

/**
 * A number input's value as JSON: a number when it reads as one; the text
 * otherwise, so that the server names the field in its 422 (the page does
 * not second-guess the server's rules).
 */
function readNumber(text) {
  const t = text.trim();
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
}

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export class Detail {
  constructor(dialog, { onSaved, onDeleted, onClosed, askToken }) {
    this.dialog = dialog;
    this.form = dialog.querySelector('form');
    this.title = dialog.querySelector('#detail-title');
    this.meta = dialog.querySelector('.meta');
    this.message = dialog.querySelector('.form-message');
    this.conflict = dialog.querySelector('.conflict');
    this.deleteButton = dialog.querySelector('[data-action=delete]');
    this.saveButton = dialog.querySelector('[data-action=save]');
    this.onSaved = onSaved;
    this.onDeleted = onDeleted;
    this.onClosed = onClosed;
    this.askToken = askToken;
    this.product = null;
    this.etag = null;
    this.current = null;
    this.confirmTimer = 0;
    this.generation = 0;

    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save();
    });
    dialog.querySelector('[data-action=close]').addEventListener('click', () => this.close());
    this.deleteButton.addEventListener('click', () => this.remove());
    this.conflict.addEventListener('click', (e) => {
      const action = e.target.closest('button')?.dataset.action;
      if (action === 'reapply') this.reapply();
      if (action === 'theirs') this.takeTheirs();
    });
    // Esc (the dialog's cancel) and every other way of closing end here.
    dialog.addEventListener('close', () => {
      this.generation++;
      this.onClosed?.();
    });
  }

  get isOpen() {
    return this.dialog.open;
  }

  input(key) {
    return this.form.elements.namedItem(key);
  }

  show() {
    if (!this.dialog.open) this.dialog.showModal();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  /** Opens product `id`, fetched fresh (with its version's ETag). */
  async open(id) {
    const gen = ++this.generation;
    this.reset(`Product ${id}`);
    this.setBusy(true);
    this.show();
    try {
      const { body, etag } = await request(`${API}/${id}`);
      if (gen !== this.generation) return;
      this.load(body, etag);
    } catch (e) {
      if (gen !== this.generation) return;
      this.say(e.status === 404 ? `Product ${id} does not exist (any more).` : e.message, 'error');
      this.form.classList.add('missing');
    } finally {
      if (gen === this.generation) this.setBusy(false);
    }
  }

  /** An empty form that creates a product. */
  openNew() {
    ++this.generation;
    this.reset('New product');
    this.product = null;
    this.etag = null;
    this.fill({ sku: '', name: '', description: '', category: '', brand: '', price: '', stock_quantity: 0, rating: 0, is_active: true });
    this.meta.textContent = 'Created when saved.';
    this.deleteButton.hidden = true;
    this.saveButton.textContent = 'Create';
    this.show();
    this.input('sku').focus();
  }

  reset(title) {
    this.title.textContent = title;
    this.form.classList.remove('missing');
    this.conflict.hidden = true;
    this.clearErrors();
    this.say('');
    this.deleteButton.hidden = false;
    this.deleteButton.textContent = 'Delete';
    delete this.deleteButton.dataset.confirm;
    this.saveButton.textContent = 'Save';
  }

  load(product, etag) {
    this.product = product;
    this.etag = etag;
    this.title.textContent = product.name;
    this.meta.textContent = `#${product.id} · created ${cellText('created_at', product.created_at)} · updated ${cellText('updated_at', product.updated_at)} UTC`;
    this.fill(product);
  }

  fill(p) {
    for (const f of FORM) {
      const input = this.input(f.key);
      if (f.type === 'bool') input.checked = Boolean(p[f.key]);
      else input.value = p[f.key] ?? '';
    }
  }

  values() {
    const v = {};
    for (const f of FORM) {
      const input = this.input(f.key);
      if (f.type === 'bool') v[f.key] = input.checked;
      else if (f.type === 'number') v[f.key] = readNumber(input.value);
      else v[f.key] = input.value;
    }
    return v;
  }

  /** The merge patch from `base` to the form's values. */
  patchFrom(base) {
    const values = this.values();
    const patch = {};
    for (const f of FORM) if (!same(values[f.key], base[f.key])) patch[f.key] = values[f.key];
    return patch;
  }

  setBusy(busy) {
    this.form.setAttribute('aria-busy', String(busy));
    for (const b of this.form.querySelectorAll('footer button')) b.disabled = busy;
  }

  say(text, kind = 'info') {
    this.message.textContent = text;
    this.message.dataset.kind = kind;
  }

  clearErrors() {
    for (const p of this.form.querySelectorAll('.field-error')) p.textContent = '';
    for (const i of this.form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  }

  /** Problem+json `errors` beside their fields; the rest in the message. */
  showErrors(e) {
    this.clearErrors();
    const errors = e.fieldErrors;
    const loose = [];
    let firstInput = null;
    for (const [field, message] of Object.entries(errors)) {
      const slot = this.form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
      if (slot) {
        slot.textContent = message;
        const input = this.input(field);
        input?.setAttribute('aria-invalid', 'true');
        firstInput ??= input;
      } else {
        loose.push(`${field}: ${message}`);
      }
    }
    this.say([e.problem.title || e.message, ...loose].join(' — '), 'error');
    firstInput?.focus();
  }

  /** Creates (POST) or edits (PATCH with If-Match) from the form. */
  async save() {
    if (!token.get()) {
      this.askToken('Writes need a token with the products:write scope.');
      return;
    }
    const creating = !this.product;
    const body = creating ? this.values() : this.patchFrom(this.product);
    if (!creating && Object.keys(body).length === 0) {
      this.say('Nothing changed.');
      return;
    }
    this.setBusy(true);
    this.clearErrors();
    this.say('Saving…');
    try {
      const res = creating
        ? await request(API, { method: 'POST', body, auth: true })
        : await request(`${API}/${this.product.id}`, { method: 'PATCH', body, ifMatch: this.etag, auth: true });
      this.conflict.hidden = true;
      this.reset(res.body.name);
      this.load(res.body, res.etag);
      this.say(creating ? `Created product #${res.body.id}.` : 'Saved.', 'ok');
      this.onSaved?.(res.body, creating);
    } catch (e) {
      this.failed(e);
    } finally {
      this.setBusy(false);
    }
  }

  failed(e) {
    if (!(e instanceof ApiError)) {
      this.say(`The request failed: ${e.message}`, 'error');
    } else if (e.status === 412) {
      this.showConflict();
    } else if (e.status === 401) {
      this.say('The token was refused (401). Paste a valid one.', 'error');
      this.askToken('The server refused the token: it may have expired.');
    } else if (e.status === 403) {
      this.say('This token lacks the products:write scope (403).', 'error');
    } else if (e.status === 404) {
      this.say('This product no longer exists.', 'error');
    } else {
      this.showErrors(e);
    }
  }

  /**
   * 412: someone changed the product since it was loaded. Shows the
   * current version beside the user's edits; "Re-apply" sends the same
   * edits against the current version.
   */
  async showConflict() {
    const { body, etag } = await request(`${API}/${this.product.id}`);
    this.current = { product: body, etag };
    const mine = this.patchFrom(this.product);
    const rows = [];
    for (const f of FORM) {
      const theirs = body[f.key];
      const before = this.product[f.key];
      if (!same(theirs, before) || f.key in mine) {
        rows.push([LABELS[f.key], cellText(f.key, before), cellText(f.key, theirs), f.key in mine ? cellText(f.key, mine[f.key]) : '']);
      }
    }
    const table = this.conflict.querySelector('tbody');
    table.replaceChildren(
      ...rows.map((cells) => {
        const tr = document.createElement('tr');
        for (const c of cells) {
          const td = document.createElement('td');
          td.textContent = c;
          tr.append(td);
        }
        return tr;
      }),
    );
    this.conflict.querySelector('.conflict-version').textContent =
      `updated ${cellText('updated_at', body.updated_at)} UTC`;
    this.conflict.hidden = false;
    this.say('Not saved: this product changed since you opened it (412).', 'error');
    this.conflict.querySelector('[data-action=reapply]').focus();
  }

  /** Re-applies the user's edits to the current version. */
  async reapply() {
    if (!this.current) return;
    const mine = this.patchFrom(this.product);
    this.product = this.current.product;
    this.etag = this.current.etag;
    this.current = null;
    this.conflict.hidden = true;
    // The form keeps the user's values for the fields they changed and
    // takes the current version's for the others.
    const values = { ...this.product, ...mine };
    this.fill(values);
    await this.save();
  }

  takeTheirs() {
    if (!this.current) return;
    this.load(this.current.product, this.current.etag);
    this.current = null;
    this.conflict.hidden = true;
    this.say('Showing the current version.');
  }

  /** Delete, after a second click to confirm; If-Match guards it too. */
  async remove() {
    if (!this.product) return;
    if (!token.get()) {
      this.askToken('Writes need a token with the products:write scope.');
      return;
    }
    if (!this.deleteButton.dataset.confirm) {
      this.deleteButton.dataset.confirm = '1';
      this.deleteButton.textContent = 'Confirm delete';
      clearTimeout(this.confirmTimer);
      this.confirmTimer = setTimeout(() => {
        delete this.deleteButton.dataset.confirm;
        this.deleteButton.textContent = 'Delete';
      }, 5000);
      return;
    }
    this.setBusy(true);
    try {
      await request(`${API}/${this.product.id}`, { method: 'DELETE', ifMatch: this.etag, auth: true });
      const id = this.product.id;
      this.close();
      this.onDeleted?.(id);
    } catch (e) {
      this.failed(e);
    } finally {
      this.setBusy(false);
      delete this.deleteButton.dataset.confirm;
      this.deleteButton.textContent = 'Delete';
    }
  }
}
