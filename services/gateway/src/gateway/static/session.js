// The signed-in user's token: from the host app that embeds the page (#token= or window.AISTUDIO_TOKEN)
// or the dev sign-in.

const TOKEN_KEY = 'aistudio.token';
const DEV_SIGN_IN_KEY = 'aistudio.devSignIn';

function storage(kind) {
  try {
    return window[kind];
  } catch {
    return null; // storage disabled by the browser
  }
}

// What could not be stored (storage disabled, or denied to a page framed by another site): kept for as
// long as the page is open, so that what was just written still reads back.
const unstored = new Map();

function read(kind, key) {
  try {
    const kept = storage(kind)?.getItem(key);
    if (kept !== null && kept !== undefined) return kept;
  } catch {
    // Denied: fall back to what this page kept itself.
  }
  return unstored.get(`${kind}:${key}`) ?? null;
}

function write(kind, key, value) {
  if (value === null) unstored.delete(`${kind}:${key}`);
  else unstored.set(`${kind}:${key}`, value);
  try {
    if (value === null) storage(kind)?.removeItem(key);
    else storage(kind)?.setItem(key, value);
  } catch {
    // Not persisted: the session lasts until the page is closed.
  }
}

let current = null;

/** A token in the fragment, taken out of the address bar at once (never left in history or a bookmark). */
export function takeFragmentToken() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get('token');
  if (!token) return null;
  params.delete('token');
  const rest = params.toString();
  window.history.replaceState(null, '', window.location.pathname + window.location.search + (rest ? `#${rest}` : ''));
  return token;
}

/** The origins of the pages that frame this one, nearest first ([] on top, or when none can be told). */
function embedders() {
  if (window.top === window.self) return [];
  const ancestors = window.location.ancestorOrigins;
  if (ancestors && ancestors.length > 0) return Array.from(ancestors);
  try {
    return document.referrer ? [new URL(document.referrer).origin] : [];
  } catch {
    return [];
  }
}

/**
 * Whether a #token= may be taken: only when every page framing this one is ours or a configured host
 * app. A link opened on its own (top level) is refused: anyone can send one, signing the reader in as
 * someone else (login CSRF). The page's frame-ancestors policy keeps other sites from framing it.
 */
export function embeddedBy(allowedOrigins) {
  const ancestors = embedders();
  const ours = window.location.origin;
  return ancestors.length > 0 && ancestors.every((origin) => origin === ours || allowedOrigins.includes(origin));
}

/** The session this browser already has: the host's global, or the token kept from an earlier visit. */
export function restore() {
  if (typeof window.AISTUDIO_TOKEN === 'string' && window.AISTUDIO_TOKEN) return (current = window.AISTUDIO_TOKEN);
  return (current = read('localStorage', TOKEN_KEY));
}

export function remember(token) {
  current = token;
  write('localStorage', TOKEN_KEY, token);
  return token;
}

export function forget() {
  current = null;
  window.AISTUDIO_TOKEN = undefined;
  write('localStorage', TOKEN_KEY, null);
}

export function token() {
  return current;
}

/** The user id (`sub`) of a JWT, for display only: the server verifies the token. */
export function userOf(jwt) {
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), '='));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0))));
    return typeof claims.sub === 'string' ? claims.sub : '';
  } catch {
    return '';
  }
}

export function devSignInUnavailable() {
  return read('sessionStorage', DEV_SIGN_IN_KEY) === 'unavailable';
}

export function markDevSignInUnavailable() {
  write('sessionStorage', DEV_SIGN_IN_KEY, 'unavailable');
}
