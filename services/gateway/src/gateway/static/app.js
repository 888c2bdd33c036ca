// AI Studio: sign-in, the generation form, the gallery with live status, the usage meter and the limit dialog.

import { ApiError, createApi, randomKey } from './api.js';
import { createGallery } from './gallery.js';
import { connectLive } from './live.js';
import * as session from './session.js';
import { toast } from './toast.js';

const $ = (id) => document.getElementById(id);
const NAME_PATTERN = /^[A-Za-z0-9_.@-]{1,64}$/;
// Quotas renew at 00:00 UTC on the 1st: the day is told in UTC, wherever the user is.
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'long', timeZone: 'UTC' });

const api = createApi({ getToken: session.token, onUnauthorized: sessionExpired });

let catalog = null;
let gallery = null;
let stopLive = null;
let nextCursor = null;
let usageTimer = null;

function showFieldError(field, message) {
  const error = $(`${field.id}-error`);
  field.setAttribute('aria-invalid', message ? 'true' : 'false');
  error.textContent = message ?? '';
  error.hidden = !message;
}

/* ---------- catalog ---------- */

function createCatalog(data) {
  const byId = new Map(data.providers.map((provider) => [provider.id, provider]));
  return {
    ...data,
    labelOf: (id) => byId.get(id)?.label ?? String(id ?? ''),
    providersFor: (type) => data.providers.filter((provider) => provider.type === type),
    provider: (id) => byId.get(id),
  };
}

/* ---------- sign-in ---------- */

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
      session.markDevSignInUnavailable();
      showSignIn();
    } else {
      showFieldError(input, error.message);
    }
  } finally {
    button.disabled = false;
  }
}

function signOut(message) {
  stopLive?.();
  stopLive = null;
  clearTimeout(usageTimer);
  session.forget();
  gallery.clear();
  $('limit-dialog').close();
  showSignIn(message);
}

function sessionExpired() {
  if (session.token()) signOut('Your session has expired. Please sign in again.');
}

function adoptHostToken() {
  const token = session.takeFragmentToken();
  if (!token) return;
  stopLive?.();
  session.remember(token);
  enterStudio();
}

/* ---------- the studio ---------- */

function enterStudio() {
  $('sign-in').hidden = true;
  $('studio').hidden = false;
  $('account').hidden = false;
  $('user-name').textContent = session.userOf(session.token());
  gallery.clear();
  gallery.loading();
  nextCursor = null;
  refreshUsage();
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
  if (previous && previous.status !== asset.status) scheduleUsageRefresh();
}

async function loadGallery() {
  try {
    const page = await api.gallery();
    page.assets.forEach(showAsset);
    nextCursor = page.nextCursor ?? null;
    gallery.showCursor(nextCursor);
    gallery.loaded();
  } catch (error) {
    if (error.status !== 401) gallery.failed(error.message);
  }
}

async function resync() {
  try {
    const page = await api.gallery();
    page.assets.forEach(showAsset);
    gallery.loaded();
    refreshUsage();
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

/* ---------- usage ---------- */

let lastUsage = null;

function showUsage(usage) {
  lastUsage = usage;
  const plan = usage.plan === 'pro' ? 'Pro plan' : 'Free plan';
  const text = $('usage-text');
  const fill = $('usage-fill');
  if (usage.limit === null || usage.limit === undefined) {
    text.textContent = `${plan} · ${usage.used} this month · unlimited`;
    fill.style.width = '0%';
    $('usage').dataset.level = 'ok';
    return;
  }
  const taken = Math.max(0, usage.limit - (usage.remaining ?? 0));
  const inProgress = usage.reserved > 0 ? ` (${usage.reserved} in progress)` : '';
  text.textContent = `${plan} · ${taken} / ${usage.limit} this month${inProgress}`;
  fill.style.width = `${usage.limit > 0 ? Math.min(100, (taken / usage.limit) * 100) : 100}%`;
  $('usage').dataset.level = usage.remaining <= 0 ? 'full' : usage.remaining <= 2 ? 'low' : 'ok';
  $('usage').title = `Renews on ${dayFormat.format(new Date(usage.periodEnd))}`;
}

async function refreshUsage() {
  try {
    showUsage(await api.usage());
  } catch (error) {
    if (error.status !== 401) $('usage-text').textContent = 'Usage unavailable';
  }
}

function scheduleUsageRefresh() {
  clearTimeout(usageTimer);
  usageTimer = setTimeout(refreshUsage, 400);
}

function showLimitDialog(body) {
  $('limit-message').textContent =
    body.message || `Your plan allows ${body.limit ?? 'a limited number of'} AI generations per month.`;
  $('limit-reset').textContent = lastUsage?.periodEnd
    ? `Your generations renew on ${dayFormat.format(new Date(lastUsage.periodEnd))}.`
    : '';
  const dialog = $('limit-dialog');
  if (!dialog.open) dialog.showModal();
}

/* ---------- the form ---------- */

let idempotencyKey = null;
let promptTouched = false;

function selectedType() {
  return document.querySelector('input[name="type"]:checked')?.value ?? 'image';
}

function fillOptions(select, options, selected) {
  select.replaceChildren(
    ...options.map(({ value, label }) => {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      option.selected = value === selected;
      return option;
    }),
  );
}

function ratioLabel(ratio) {
  const [width, height] = ratio.split(':').map(Number);
  if (!width || !height) return ratio;
  const shape = width === height ? 'square' : width > height ? 'landscape' : 'portrait';
  return `${ratio} · ${shape}`;
}

function showRatios() {
  const provider = catalog.provider($('provider').value);
  if (!provider) return;
  fillOptions(
    $('aspect-ratio'),
    provider.aspectRatios.map((ratio) => ({ value: ratio, label: ratioLabel(ratio) })),
    provider.defaultAspectRatio,
  );
}

function showProviders() {
  const type = selectedType();
  const providers = catalog.providersFor(type);
  fillOptions($('provider'), providers.map(({ id, label }) => ({ value: id, label })), providers[0]?.id);
  showRatios();
  const typeLabel = type === 'video' ? 'Video' : 'Image';
  $('generate-label').textContent = `Generate ${typeLabel}`;
  formChanged();
}

function buildTypeSwitch() {
  const container = $('type-switch');
  container.replaceChildren(
    ...catalog.types.map(({ value, label }, index) => {
      const option = document.createElement('label');
      option.className = 'segment';
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = 'type';
      input.value = value;
      input.checked = index === 0;
      input.addEventListener('change', showProviders);
      const icon = document.createElement('span');
      icon.className = `segment-icon ${value}`;
      icon.setAttribute('aria-hidden', 'true');
      const text = document.createElement('span');
      text.textContent = label;
      option.append(input, icon, text);
      return option;
    }),
  );
}

function promptProblem() {
  const length = $('prompt').value.trim().length;
  if (length < catalog.promptMinLength) return `Prompt must be at least ${catalog.promptMinLength} characters`;
  if (length > catalog.promptMaxLength) return `Prompt must be at most ${catalog.promptMaxLength} characters`;
  return null;
}

function referenceProblem() {
  const value = $('reference-url').value.trim();
  if (!value) return null;
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return null;
  } catch {
    // reported below
  }
  return 'Enter a full http(s) address, such as https://example.com/photo.jpg';
}

function showPromptState() {
  const prompt = $('prompt');
  const counter = $('prompt-counter');
  counter.textContent = `${prompt.value.length} / ${catalog.promptMaxLength} characters`;
  const problem = promptProblem();
  counter.classList.toggle('invalid', promptTouched && problem !== null);
  if (promptTouched) showFieldError(prompt, problem);
}

function formChanged() {
  idempotencyKey = null; // a different request from now on
  $('form-error').hidden = true;
}

function setPending(pending) {
  const button = $('generate');
  button.disabled = pending;
  button.classList.toggle('pending', pending);
  $('generate-label').textContent = pending
    ? 'Generating…'
    : `Generate ${selectedType() === 'video' ? 'Video' : 'Image'}`;
}

function showServerIssues(error) {
  const fields = { prompt: $('prompt'), referenceImageUrl: $('reference-url') };
  const general = [];
  for (const detail of error.details) {
    const field = fields[Array.isArray(detail.path) ? detail.path[0] : undefined];
    if (field) showFieldError(field, detail.message);
    else general.push(detail.message);
  }
  if (general.length > 0 || error.details.length === 0) {
    $('form-error').textContent = general.join(' ') || error.message;
    $('form-error').hidden = false;
  }
}

async function generate(event) {
  event.preventDefault();
  promptTouched = true;
  showPromptState();
  const referenceIssue = referenceProblem();
  showFieldError($('reference-url'), referenceIssue);
  if (promptProblem()) {
    $('prompt').focus();
    return;
  }
  if (referenceIssue) {
    $('reference-url').focus();
    return;
  }
  const reference = $('reference-url').value.trim();
  const payload = {
    prompt: $('prompt').value.trim(),
    provider: $('provider').value,
    type: selectedType(),
    aspectRatio: $('aspect-ratio').value,
    ...(reference ? { referenceImageUrl: reference } : {}),
  };
  idempotencyKey ??= randomKey(); // the same key on a retry of the same request: charged once
  setPending(true);
  $('form-error').hidden = true;
  try {
    const asset = await api.generate(payload, idempotencyKey);
    idempotencyKey = null;
    toast('Generation started! ✨', {
      description: 'Your AI media is being generated. Check the gallery below for progress.',
    });
    $('prompt').value = '';
    $('reference-url').value = '';
    promptTouched = false;
    showPromptState();
    showFieldError($('prompt'), null);
    showAsset(asset);
    refreshUsage();
  } catch (error) {
    if (!(error instanceof ApiError) || error.status === 401) return;
    if (error.isLimitReached) {
      await refreshUsage();
      showLimitDialog(error.body);
    } else if (error.status === 400) {
      showServerIssues(error);
    } else {
      toast('Generation failed', { description: error.message, variant: 'error' });
    }
  } finally {
    setPending(false);
  }
}

/* ---------- captions ---------- */

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

async function copyCaption(asset) {
  try {
    await navigator.clipboard.writeText(asset.caption ?? '');
    toast('Caption copied');
  } catch {
    toast('Could not copy the caption', { description: 'Select the text and copy it by hand.', variant: 'error' });
  }
}

/* ---------- start ---------- */

function wire() {
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => signOut());
  $('generate-form').addEventListener('submit', generate);
  $('provider').addEventListener('change', () => {
    showRatios();
    formChanged();
  });
  $('aspect-ratio').addEventListener('change', formChanged);
  $('prompt').addEventListener('input', () => {
    formChanged();
    showPromptState();
  });
  $('prompt').addEventListener('blur', () => {
    if ($('prompt').value !== '') promptTouched = true;
    showPromptState();
  });
  $('reference-url').addEventListener('input', () => {
    formChanged();
    if ($('reference-url').getAttribute('aria-invalid') === 'true') {
      showFieldError($('reference-url'), referenceProblem());
    }
  });
  $('load-more').addEventListener('click', loadMore);
  window.addEventListener('hashchange', adoptHostToken);
}

async function start() {
  gallery = createGallery({
    list: $('gallery'),
    state: $('gallery-state'),
    loadMore: $('load-more'),
    catalog: { labelOf: (id) => catalog?.labelOf(id) ?? id },
    onCaption: caption,
    onCopy: copyCaption,
  });
  wire();
  try {
    catalog = createCatalog(await api.catalog());
  } catch (error) {
    toast('AI Studio could not start', { description: error.message, variant: 'error', sticky: true });
    return;
  }
  $('prompt').maxLength = catalog.promptMaxLength;
  buildTypeSwitch();
  showProviders();
  showPromptState();
  if (session.initialToken()) enterStudio();
  else showSignIn();
}

start();
