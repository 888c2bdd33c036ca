// The gateway's HTTP API, with its error shapes turned into ApiError.

export class ApiError extends Error {
  constructor(status, body) {
    super(messageOf(status, body));
    this.status = status;
    this.body = body ?? {};
  }

  get isLimitReached() {
    return this.status === 403 && ('limit' in this.body || /limit/i.test(this.body.error ?? ''));
  }

  get details() {
    return Array.isArray(this.body.details) ? this.body.details : [];
  }
}

function messageOf(status, body) {
  if (body && Array.isArray(body.details) && body.details.length > 0) {
    return body.details.map((detail) => detail.message).join(' ');
  }
  if (body && typeof body.message === 'string' && body.message) return body.message;
  if (body && typeof body.details === 'string' && body.details) return `${body.error ?? 'Error'}: ${body.details}`;
  if (body && typeof body.error === 'string' && body.error) return body.error;
  return `The request failed (HTTP ${status}).`;
}

export function resolve(path) {
  return new URL(path, document.baseURI).toString();
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

export function randomKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

export function createApi({ getToken, onUnauthorized }) {
  async function request(method, path, { body, headers = {} } = {}) {
    const init = { method, cache: 'no-store', headers: { Accept: 'application/json', ...headers } };
    const token = getToken();
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(resolve(path), init);
    } catch {
      throw new ApiError(0, {
        error: 'Network error',
        message: 'AI Studio cannot be reached. Check your connection and try again.',
      });
    }
    const data = await readJson(response);
    if (response.status === 401 && token) onUnauthorized();
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  return {
    catalog: () => request('GET', 'static/catalog.json'),
    pageConfig: () => request('GET', 'static/config.json'),
    devToken: (userId) => request('POST', 'api/dev/token', { body: { user_id: userId } }),
    usage: () => request('GET', 'api/usage'),
    gallery: (cursor) => request('GET', cursor ? `api/ai/media?cursor=${encodeURIComponent(cursor)}` : 'api/ai/media'),
    generate: (payload, idempotencyKey) =>
      request('POST', 'api/ai/generate-media', { body: payload, headers: { 'Idempotency-Key': idempotencyKey } }),
    caption: (mediaId) => request('POST', 'api/caption/generate-from-media', { body: { mediaId } }),
    styles: () => request('GET', 'api/ai/styles'),
    templates: () => request('GET', 'api/ai/templates'),
    saveTemplate: (template) => request('POST', 'api/ai/templates', { body: template }),
    deleteTemplate: (id) => request('DELETE', `api/ai/templates/${encodeURIComponent(id)}`),
    cancel: (mediaId) => request('POST', `api/ai/media/${encodeURIComponent(mediaId)}/cancel`),
    edit: (mediaId, payload, idempotencyKey) =>
      request('POST', `api/ai/media/${encodeURIComponent(mediaId)}/edit`, {
        body: payload,
        headers: { 'Idempotency-Key': idempotencyKey },
      }),
  };
}
