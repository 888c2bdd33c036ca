// Posting a ready asset to social networks: the Post button on ready cards, the modal (accounts,
// caption with Instagram's limits, now or a local date and time sent as UTC) and a strip of the
// card's posts with their live status. Self-contained: it watches the gallery, so a card that the
// live feed re-fills (every post change is a change of its asset) refreshes its strip.

import { ApiError, randomKey, resolve } from './api.js';
import * as session from './session.js';
import { toast } from './toast.js';

const INSTAGRAM_CAPTION_MAX = 2200;
const INSTAGRAM_HASHTAGS_MAX = 30;
const LIVE_STATUSES = new Set(['scheduled', 'publishing']);
const PLATFORM_NAMES = { instagram: 'Instagram', facebook: 'Facebook', twitter: 'X', tiktok: 'TikTok', linkedin: 'LinkedIn' };
const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function safeUrl(value) {
  if (typeof value !== 'string' || value === '') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : null;
  } catch {
    return null;
  }
}

async function request(method, path, { body, headers = {} } = {}) {
  const init = { method, cache: 'no-store', headers: { Accept: 'application/json', ...headers } };
  const token = session.token();
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(resolve(path), init);
  } catch {
    throw new ApiError(0, { error: 'Network error', message: 'AI Studio cannot be reached.' });
  }
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = {};
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

const platformName = (platform) => PLATFORM_NAMES[platform] ?? platform;
const hashtags = (text) => (text.match(/(^|\s)#[\p{L}\p{N}_]+/gu) ?? []).length;

/* ---------- the modal ---------- */

let accountsCache = null;
let modal = null;

function buildModal() {
  const dialog = el('dialog', 'dialog post-dialog');
  dialog.id = 'post-dialog';
  dialog.setAttribute('aria-labelledby', 'post-title');
  const form = el('form', 'post-form');
  form.noValidate = true;
  const title = el('h2', '', 'Post to social media');
  title.id = 'post-title';
  const accounts = el('fieldset', 'post-accounts');
  accounts.append(el('legend', '', 'Accounts'));
  const accountList = el('div', 'post-account-list');
  accountList.id = 'post-account-list';
  accounts.append(accountList);

  const captionLabel = el('label', 'post-label', 'Caption');
  captionLabel.htmlFor = 'post-caption';
  const caption = el('textarea', 'post-caption');
  caption.id = 'post-caption';
  caption.rows = 5;
  const counter = el('p', 'post-counter muted');
  counter.id = 'post-counter';

  const timing = el('fieldset', 'post-timing');
  timing.append(el('legend', '', 'When'));
  const now = radio('post-when', 'now', 'Post now', true);
  const later = radio('post-when', 'later', 'Schedule', false);
  const at = el('input', 'post-at');
  at.type = 'datetime-local';
  at.id = 'post-at';
  at.disabled = true;
  timing.append(now.label, later.label, at);

  const error = el('p', 'field-error post-error');
  error.id = 'post-error';
  error.hidden = true;
  error.setAttribute('role', 'alert');
  const actions = el('div', 'dialog-actions');
  const cancel = el('button', 'button ghost', 'Close');
  cancel.type = 'button';
  const submit = el('button', 'button primary', 'Post');
  submit.type = 'submit';
  submit.id = 'post-submit';
  actions.append(cancel, submit);
  form.append(title, accounts, captionLabel, caption, counter, timing, error, actions);
  dialog.append(form);
  document.body.append(dialog);

  const state = { dialog, accountList, caption, counter, now: now.input, later: later.input, at, error, submit, asset: null, key: null };
  const update = () => updateCounter(state);
  caption.addEventListener('input', update);
  accountList.addEventListener('change', update);
  for (const choice of [now.input, later.input]) {
    choice.addEventListener('change', () => {
      at.disabled = !later.input.checked;
      if (later.input.checked && !at.value) at.value = localInput(new Date(Date.now() + 60 * 60 * 1000));
    });
  }
  cancel.addEventListener('click', () => dialog.close());
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    send(state);
  });
  return state;
}

function radio(name, value, text, checked) {
  const label = el('label', 'post-choice');
  const input = el('input');
  input.type = 'radio';
  input.name = name;
  input.value = value;
  input.checked = checked;
  label.append(input, document.createTextNode(` ${text}`));
  return { label, input };
}

/** A Date as the value of a datetime-local input, in the user's own zone. */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function selectedAccounts(state) {
  return [...state.accountList.querySelectorAll('input[type=checkbox]:checked')].map((input) => ({
    id: input.value,
    platform: input.dataset.platform,
  }));
}

function updateCounter(state) {
  const text = state.caption.value;
  const instagram = selectedAccounts(state).some((account) => account.platform === 'instagram');
  const tags = hashtags(text);
  if (instagram) {
    state.counter.textContent = `${text.length} / ${INSTAGRAM_CAPTION_MAX} characters · ${tags} / ${INSTAGRAM_HASHTAGS_MAX} hashtags (Instagram)`;
    state.counter.dataset.over = String(text.length > INSTAGRAM_CAPTION_MAX || tags > INSTAGRAM_HASHTAGS_MAX);
  } else {
    state.counter.textContent = `${text.length} characters`;
    state.counter.dataset.over = 'false';
  }
}

function showError(state, message) {
  state.error.textContent = message ?? '';
  state.error.hidden = !message;
}

async function loadAccounts() {
  if (accountsCache) return accountsCache;
  const body = await request('GET', 'api/social/accounts');
  accountsCache = Array.isArray(body.accounts) ? body.accounts : [];
  return accountsCache;
}

async function openModal(asset) {
  modal = modal ?? buildModal();
  const state = modal;
  state.asset = asset;
  state.key = randomKey(); // one post per opening, however often Post is pressed
  state.caption.value = asset.caption ?? '';
  state.now.checked = true;
  state.later.checked = false;
  state.at.disabled = true;
  state.at.value = '';
  showError(state, null);
  state.accountList.replaceChildren(el('p', 'muted', 'Loading accounts…'));
  state.dialog.showModal();
  try {
    const accounts = await loadAccounts();
    state.accountList.replaceChildren();
    if (accounts.length === 0) state.accountList.append(el('p', 'muted', 'No connected accounts. Connect one in Late.'));
    for (const account of accounts) {
      const label = el('label', 'post-account');
      const input = el('input');
      input.type = 'checkbox';
      input.value = account.id;
      input.dataset.platform = account.platform;
      input.disabled = Boolean(account.needsReconnection);
      const name = `${platformName(account.platform)} · @${account.username ?? account.id}`;
      label.append(input, document.createTextNode(` ${name}${account.needsReconnection ? ' (reconnect in Late)' : ''}`));
      state.accountList.append(label);
    }
  } catch (error) {
    state.accountList.replaceChildren(el('p', 'field-error', `Accounts could not be loaded: ${error.message}`));
  }
  updateCounter(state);
}

async function send(state) {
  const accountIds = selectedAccounts(state).map((account) => account.id);
  const body = { accountIds, caption: state.caption.value };
  if (state.later.checked) {
    const local = new Date(state.at.value); // a datetime-local value is read in the user's zone
    if (Number.isNaN(local.getTime())) {
      showError(state, 'Choose a date and time for the post.');
      return;
    }
    body.scheduledFor = local.toISOString(); // sent as UTC
  } else {
    body.scheduledFor = null;
  }
  state.submit.disabled = true;
  showError(state, null);
  try {
    const result = await request('POST', `api/ai/media/${encodeURIComponent(state.asset.id)}/posts`, {
      body,
      headers: { 'Idempotency-Key': state.key },
    });
    state.dialog.close();
    toast(result.post?.status === 'scheduled' ? 'Post scheduled' : 'Posting now…');
    refresh(state.asset.id);
  } catch (error) {
    showError(state, error.message);
  } finally {
    state.submit.disabled = false;
  }
}

/* ---------- the strip on each card ---------- */

const pending = new Map(); // asset id → timer
let pollTimer = null;

function strip(card) {
  let node = card.querySelector('.posts-strip');
  if (!node) {
    node = el('ul', 'posts-strip');
    node.hidden = true;
    card.append(node);
  }
  return node;
}

function renderPosts(card, posts) {
  const node = strip(card);
  node.replaceChildren();
  node.hidden = posts.length === 0;
  for (const post of posts) {
    const item = el('li', 'post-item');
    item.dataset.postId = post.id;
    item.dataset.status = post.status;
    const status = el('span', 'post-status', post.status);
    const targets = el('span', 'post-targets');
    for (const platform of post.platforms ?? []) {
      const url = safeUrl(platform.url);
      if (url) {
        const link = el('a', 'post-link', `${platformName(platform.platform)} ↗`);
        link.href = url;
        link.target = '_blank';
        link.rel = 'noopener noreferrer';
        targets.append(link);
      } else {
        targets.append(el('span', 'post-platform', platformName(platform.platform)));
      }
    }
    item.append(status, targets);
    if (post.status === 'scheduled' && post.scheduledFor) {
      item.append(el('time', 'post-when muted', when.format(new Date(post.scheduledFor))));
    }
    if (post.errorMessage) item.append(el('p', 'post-message', post.errorMessage));
    if (post.status === 'scheduled') {
      const cancel = el('button', 'button ghost small post-cancel', 'Cancel');
      cancel.type = 'button';
      cancel.addEventListener('click', () => cancelPost(card, post));
      item.append(cancel);
    }
    node.append(item);
  }
}

async function cancelPost(card, post) {
  try {
    await request('DELETE', `api/posts/${encodeURIComponent(post.id)}`);
    toast('Post cancelled');
  } catch (error) {
    toast('The post could not be cancelled', { description: error.message, variant: 'error' });
  }
  refresh(card.dataset.id);
}

async function load(assetId) {
  const card = document.querySelector(`#gallery [data-id="${CSS.escape(assetId)}"]`);
  if (!card || card.dataset.status !== 'ready' || !session.token()) return;
  try {
    const body = await request('GET', `api/posts?mediaId=${encodeURIComponent(assetId)}`);
    renderPosts(card, Array.isArray(body.posts) ? body.posts : []);
  } catch {
    // The strip keeps what it showed; the next change or poll tries again.
  }
  schedulePoll();
}

/** Soon, once: a burst of changes to one card is one read. */
function refresh(assetId) {
  if (!assetId || pending.has(assetId)) return;
  pending.set(assetId, setTimeout(() => {
    pending.delete(assetId);
    load(assetId);
  }, 150));
}

/** While a post is scheduled or publishing, look again now and then (the live feed usually comes first). */
function schedulePoll() {
  if (pollTimer) return;
  const live = [...document.querySelectorAll('#gallery .post-item')].some((item) => LIVE_STATUSES.has(item.dataset.status));
  if (!live) return;
  pollTimer = setTimeout(() => {
    pollTimer = null;
    for (const card of document.querySelectorAll('#gallery .post-item')) {
      if (LIVE_STATUSES.has(card.dataset.status)) refresh(card.closest('[data-id]')?.dataset.id);
    }
  }, 5000);
}

function equip(card) {
  if (card.dataset.status !== 'ready') return;
  const actions = card.querySelector('.asset-actions');
  if (actions && !actions.querySelector('.post-button')) {
    const button = el('button', 'button primary small post-button', 'Post');
    button.type = 'button';
    button.addEventListener('click', () => {
      const caption = card.querySelector('.caption-text')?.textContent ?? '';
      openModal({ id: card.dataset.id, caption });
    });
    actions.prepend(button);
  }
  refresh(card.dataset.id);
}

function watch() {
  const gallery = document.getElementById('gallery');
  if (!gallery) return;
  const observer = new MutationObserver((records) => {
    const cards = new Set();
    for (const record of records) {
      const target = record.target instanceof Element ? record.target : record.target.parentElement;
      if (record.type === 'childList') {
        for (const added of record.addedNodes) {
          if (added instanceof Element && added.matches('.asset')) cards.add(added);
        }
      }
      const card = target?.closest('.asset');
      if (card && !(record.type === 'childList' && target.closest('.posts-strip'))) cards.add(card);
    }
    for (const card of cards) if (card.dataset.id) equip(card);
  });
  observer.observe(gallery, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-status', 'data-id'] });
  for (const card of gallery.querySelectorAll('.asset')) equip(card);
}

watch();
