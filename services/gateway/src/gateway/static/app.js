// AI Studio: signing in and out, and the studio — the form, the gallery with live status, usage, captions,
// cancelling a running generation and editing a ready image.

import { ApiError, createApi } from './api.js';
import { $, showFieldError } from './dom.js';
import { createEditDialog } from './edit.js';
import { createGenerateForm } from './form.js';
import { createGallery } from './gallery.js';
import { connectLive } from './live.js';
import * as session from './session.js';
import { toast } from './toast.js';
import { createUsage } from './usage.js';

const NAME_PATTERN = /^[A-Za-z0-9_.@-]{1,64}$/;
const EXPIRED = 'Your session has expired. Please sign in again.';

const api = createApi({ getToken: session.token, onUnauthorized: sessionExpired });
const usage = createUsage(api);
let gallery = null;
let form = null;
let editor = null;
let stopLive = null;
let nextCursor = null;
const NO_HOSTS = { embedHostOrigins: [] };
let pageConfig = NO_HOSTS; // this deployment's page settings (static/config.json)

function createCatalog(data) {
  const byId = new Map(data.providers.map((provider) => [provider.id, provider]));
  return {
    ...data,
    labelOf: (id) => byId.get(id)?.label ?? String(id ?? ''),
    providersFor: (type) => data.providers.filter((provider) => provider.type === type),
    provider: (id) => byId.get(id),
  };
}

/* ---------- signing in and out ---------- */

function showSignIn(message) {
  $('account').hidden = true;
  $('studio').hidden = true;
  $('sign-in').hidden = false;
  const hostOnly = session.devSignInUnavailable();
  $('sign-in-form').hidden = hostOnly;
  $('host-sign-in').hidden = !hostOnly;
  if (message) toast(message, { variant: 'error' });
  if (!hostOnly) $('sign-in-name').focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = $('sign-in-name');
  const name = input.value.trim();
  if (!NAME_PATTERN.test(name)) {
    showFieldError(input, 'Use 1 to 64 letters, digits or . _ @ -');
    input.focus();
    return;
  }
  showFieldError(input, null);
  const button = $('sign-in-submit');
  button.disabled = true;
  try {
    const { token } = await api.devToken(name);
    session.remember(token);
    enterStudio();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      session.markDevSignInUnavailable(); // this gateway has no dev sign-in: the host app signs users in
      showSignIn();
    } else {
      showFieldError(input, error.message);
    }
  } finally {
    button.disabled = false;
  }
}

function leaveStudio() {
  stopLive?.();
  stopLive = null;
  usage.clear();
  gallery.clear();
  form.clearCreative();
  editor.close();
}

function signOut(message) {
  leaveStudio();
  session.forget();
  showSignIn(message);
}

function sessionExpired() {
  if (session.token()) signOut(EXPIRED); // once, however many requests were refused
}

/** Asks whether to leave `from`'s session for `to`'s; resolves true to switch. */
function askToSwitch(from, to) {
  const dialog = $('switch-dialog');
  $('switch-message').textContent = `You are signed in as ${from || 'another user'}. The app wants to sign you in as ${
    to || 'another user'
  }.`;
  return new Promise((resolve) => {
    dialog.returnValue = '';
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'switch'), { once: true });
    dialog.showModal();
  });
}

/**
 * The host app's #token=, when it may be taken: only from a configured host app framing the page, and
 * never in place of another user's session without asking. Resolves true when the session changed.
 */
async function acceptHostToken() {
  const offered = session.takeFragmentToken();
  if (!offered) return false;
  const signedIn = session.token();
  const still = signedIn ? ` You are still signed in as ${session.userOf(signedIn) || 'before'}.` : '';
  if (!session.embeddedBy(pageConfig.embedHostOrigins)) {
    toast('Sign-in link ignored', {
      description: `AI Studio takes a sign-in link only from the app it is part of.${still}`,
      variant: 'error',
    });
    return false;
  }
  if (offered === signedIn) return false;
  const [from, to] = [session.userOf(signedIn ?? ''), session.userOf(offered)];
  if (signedIn && from !== to && !(await askToSwitch(from, to))) {
    toast('Sign-in link ignored', { description: still.trim() });
    return false;
  }
  session.remember(offered);
  return true;
}

async function adoptHostToken() {
  if (!(await acceptHostToken())) return;
  leaveStudio();
  enterStudio();
}

/* ---------- the studio ---------- */

function enterStudio() {
  $('sign-in').hidden = true;
  $('studio').hidden = false;
  $('account').hidden = false;
  $('user-name').textContent = session.userOf(session.token());
  gallery.loading();
  nextCursor = null;
  usage.refresh();
  loadGallery();
  stopLive = connectLive({
    getToken: session.token,
    onAsset: showAsset,
    onResync: resync,
    onMode: (mode) => {
      $('live-status').textContent = mode === 'live' ? '● Live' : 'Refreshing every 10 s';
      $('live-status').dataset.mode = mode;
    },
    onUnauthorized: sessionExpired,
  });
}

function showAsset(asset) {
  const previous = gallery.upsert(asset);
  if (previous && previous.status !== asset.status) usage.refreshSoon(); // a unit was committed or given back
}

async function loadGallery() {
  try {
    const page = await api.gallery();
    page.assets.forEach(showAsset);
    nextCursor = page.nextCursor ?? null;
    gallery.showCursor(nextCursor);
    gallery.loaded();
  } catch (error) {
    if (error.status === 401) return; // signed out already: nothing more to ask with that token
    gallery.failed(error.message);
  }
  // The styles and templates only once the token has been accepted (a refused one asks no more).
  form.loadCreative();
}

/** On every (re)connection of the stream and every poll: the newest page, merged into the gallery. */
async function resync() {
  try {
    const page = await api.gallery();
    page.assets.forEach(showAsset);
    gallery.loaded();
    usage.refresh();
  } catch {
    // The next poll or reconnection tries again.
  }
}

async function loadMore() {
  const button = $('load-more');
  button.disabled = true;
  try {
    const page = await api.gallery(nextCursor);
    page.assets.forEach(showAsset);
    nextCursor = page.nextCursor ?? null;
    gallery.showCursor(nextCursor);
  } catch (error) {
    if (error.status !== 401) toast('Could not load more', { description: error.message, variant: 'error' });
  } finally {
    button.disabled = false;
  }
}

async function caption(asset) {
  gallery.setCaptionPending(asset.id, true);
  try {
    const result = await api.caption(asset.id);
    if (typeof result.caption === 'string') gallery.setCaption(asset.id, result.caption);
    toast('Caption generated! ✨', { description: 'Ready to post to Instagram' });
  } catch (error) {
    if (error.status !== 401) toast('Caption generation failed', { description: error.message, variant: 'error' });
  } finally {
    gallery.setCaptionPending(asset.id, false);
  }
}

async function cancel(asset) {
  gallery.setCancelPending(asset.id, true);
  try {
    showAsset(await api.cancel(asset.id));
    toast('Generation cancelled', { description: 'It will not be made, and it does not count this month.' });
  } catch (error) {
    if (error.status === 401) return;
    toast('Could not cancel', { description: error.message, variant: 'error' });
    if (error.status === 404 || error.status === 409) resync(); // it finished meanwhile: show how
  } finally {
    gallery.setCancelPending(asset.id, false);
  }
}

async function copyCaption(asset) {
  try {
    await navigator.clipboard.writeText(asset.caption ?? '');
    toast('Caption copied');
  } catch {
    toast('Could not copy the caption', { description: 'Select the text and copy it by hand.', variant: 'error' });
  }
}

/* ---------- start ---------- */

async function start() {
  let catalog;
  try {
    [catalog, pageConfig] = await Promise.all([
      api.catalog().then(createCatalog),
      api.pageConfig().catch(() => NO_HOSTS), // unknown: no host app may sign anyone in
    ]);
  } catch (error) {
    toast('AI Studio could not start', { description: error.message, variant: 'error', sticky: true });
    return;
  }
  gallery = createGallery({
    list: $('gallery'),
    state: $('gallery-state'),
    loadMore: $('load-more'),
    catalog,
    onCaption: caption,
    onCopy: copyCaption,
    onCancel: cancel,
    onEdit: (asset) => editor.open(asset),
  });
  const created = {
    catalog,
    api,
    onCreated: (asset) => {
      showAsset(asset);
      usage.refresh();
    },
    onLimitReached: (body) => usage.showLimitReached(body),
  };
  form = createGenerateForm(created);
  editor = createEditDialog(created);
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => signOut());
  $('load-more').addEventListener('click', loadMore);
  window.addEventListener('hashchange', adoptHostToken);
  if (session.restore()) {
    enterStudio();
    await adoptHostToken();
  } else if (await acceptHostToken()) enterStudio();
  else showSignIn();
}

start();
