// The explorer's only way to the server: the public HTTP API, same origin.

export const API = '/api/v1/products';
const TOKEN_KEY = 'catalog.explorer.token';

/** A non-2xx answer: its status and RFC 9457 problem (if any). */
export class ApiError extends Error {
  constructor(status, problem, headers) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.headers = headers;
  }

  /** `{field: message}` from the problem's `errors` member. */
  get fieldErrors() {
    const out = {};
    for (const e of this.problem.errors || []) {
      if (e && e.field) out[e.field] = out[e.field] ? `${out[e.field]}; ${e.message}` : e.message;
    }
    return out;
  }
}

/** The write token, kept for this tab's session only. */
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || '',
  set: (t) => (t ? sessionStorage.setItem(TOKEN_KEY, t.trim()) : sessionStorage.removeItem(TOKEN_KEY)),
};

async function parse(res) {
  if (res.status === 204 || res.status === 304) return null;
  const type = res.headers.get('content-type') || '';
  if (type.includes('json')) return res.json();
  return res.text();
}

/** One request; resolves `{body, etag, status}` or throws [`ApiError`]. */
export async function request(path, { method = 'GET', params, body, signal, ifMatch, auth = false } = {}) {
  const url = params && [...params].length ? `${path}?${params}` : path;
  const headers = { Accept: 'application/json' };
  if (body !== undefined) {
    headers['Content-Type'] = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  }
  if (ifMatch) headers['If-Match'] = ifMatch;
  if (auth && token.get()) headers.Authorization = `Bearer ${token.get()}`;
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const data = await parse(res).catch(() => null);
  if (!res.ok) throw new ApiError(res.status, typeof data === 'object' ? data : null, res.headers);
  return { body: data, etag: res.headers.get('etag'), status: res.status };
}

export const getJson = (path, params, signal) => request(path, { params, signal }).then((r) => r.body);

/** Whether `e` is the AbortError of a cancelled request (not a failure). */
export const aborted = (e) => e && e.name === 'AbortError';
