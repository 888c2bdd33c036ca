// The signed-in user's token: from the host app (#token= or window.AISTUDIO_TOKEN) or the dev sign-in.

const TOKEN_KEY = 'aistudio.token';
const DEV_SIGN_IN_KEY = 'aistudio.devSignIn';

function storage(kind) {
  try {
    return window[kind];
  } catch {
    return null; // storage disabled by the browser
  }
}

function read(kind, key) {
  try {
    return storage(kind)?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

function write(kind, key, value) {
  try {
    if (value === null) storage(kind)?.removeItem(key);
    else storage(kind)?.setItem(key, value);
  } catch {
    // Not persisted: the session lasts until the page is closed.
  }
}

let current = null;

/** A token the host passed in the fragment (removed from the address bar at once), if any. */
export function takeFragmentToken() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get('token');
  if (!token) return null;
  params.delete('token');
  const rest = params.toString();
  window.history.replaceState(null, '', window.location.pathname + window.location.search + (rest ? `#${rest}` : ''));
  return token;
}

export function initialToken() {
  const fromFragment = takeFragmentToken();
  if (fromFragment) return remember(fromFragment);
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
