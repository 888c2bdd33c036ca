// The gallery of the user's assets. Everything from the server is set as text or as a checked URL.
// Variants requested together (one batchId) are shown as one group; an edit shows the image it came from.

import { safeUrl } from './dom.js';

const STATUS_ICONS = { processing: '', ready: '✓', error: '✕', cancelled: '⊘' };

// "Queued · 12th · starts in ~1 min" while the asset waits for the provider's limit (null otherwise).
export function queueLabel(asset, now = Date.now()) {
  if (asset.status !== 'processing' || !asset.queuePosition) return null;
  const parts = ['Queued', ordinal(asset.queuePosition)];
  const start = Date.parse(asset.estimatedStartAt ?? '');
  if (!Number.isNaN(start)) parts.push(`starts in ~${roughly(start - now)}`);
  return parts.join(' · ');
}

function ordinal(n) {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  return `${n}${teen ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' })[n % 10] ?? 'th'}`;
}

function roughly(ms) {
  const seconds = Math.max(1, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `${minutes} min` : `${Math.round(minutes / 60)} h`;
}
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function time(value) {
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? 0 : parsed;
}

function newestFirst(a, b) {
  return time(b.createdAt) - time(a.createdAt) || (a.id < b.id ? 1 : -1);
}

function mediaFor(asset) {
  const box = el('div', 'asset-media');
  const url = safeUrl(asset.resultUrl);
  if (asset.status === 'ready' && url) {
    let media;
    if (asset.type === 'video') {
      media = el('video');
      media.controls = true;
      media.preload = 'metadata';
      media.playsInline = true;
      media.muted = true;
    } else {
      media = el('img');
      media.alt = asset.prompt ?? '';
      media.loading = 'lazy';
      media.decoding = 'async';
    }
    media.addEventListener('error', () => box.replaceChildren(el('p', 'media-note', 'Preview unavailable')), { once: true });
    media.src = url;
    box.append(media);
  } else if (asset.status === 'error') {
    box.classList.add('failed');
    box.append(el('span', 'media-icon', '✕'), el('p', 'media-note', asset.errorMessage || 'Generation failed'));
  } else if (asset.status === 'cancelled') {
    box.classList.add('cancelled');
    box.append(el('span', 'media-icon', '⊘'), el('p', 'media-note', 'Cancelled: not made and not counted'));
  } else {
    box.classList.add('pending');
    box.append(el('span', 'spinner large'), el('p', 'media-note', asset.status === 'ready' ? 'Preparing preview…' : 'Generating…'));
  }
  return box;
}

function captionState(asset) {
  switch (asset.captionStatus) {
    case 'pending':
      return 'Writing a caption…';
    case 'failed':
      return 'The automatic caption failed. Try the Caption button.';
    default:
      return '';
  }
}

function styleLabel(id) {
  const words = String(id).replace(/[-_]+/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** onCancel(asset) from a processing card's Cancel; onEdit(asset) from a ready image's Edit. */
export function createGallery({ list, state, loadMore, catalog, onCaption, onCopy, onCancel, onEdit }) {
  const items = new Map(); // id → { asset, node, mediaKey, parentKey }
  const batches = new Map(); // batchId → { node, grid, head, members: Set<item> }
  let captionPending = new Set();
  let cancelPending = new Set();

  function providerLabel(asset) {
    const label = catalog.labelOf(asset.provider);
    if (asset.requestedProvider && asset.requestedProvider !== asset.provider) {
      return `${label} (instead of ${catalog.labelOf(asset.requestedProvider)})`;
    }
    return label;
  }

  function fill(item) {
    const { asset, node } = item;
    node.dataset.status = asset.status;
    node.dataset.id = asset.id;
    node.querySelector('.badge-icon').textContent = STATUS_ICONS[asset.status] ?? '';
    node.querySelector('.badge-text').textContent = queueLabel(asset) ?? asset.status;
    node.querySelector('.asset-provider').textContent = providerLabel(asset);

    // The preview is rebuilt only when it changes: signed links differ on every fetch, and a playing
    // video must not restart because a caption arrived.
    const mediaKey = `${asset.status}|${asset.type}|${asset.errorMessage ?? ''}|${Boolean(asset.resultUrl)}`;
    if (mediaKey !== item.mediaKey) {
      node.querySelector('.asset-media').replaceWith(mediaFor(asset));
      item.mediaKey = mediaKey;
    }

    node.querySelector('.asset-prompt').textContent = asset.prompt ?? '';
    const date = node.querySelector('.asset-date');
    date.dateTime = asset.createdAt ?? '';
    date.textContent = time(asset.createdAt) ? dateFormat.format(new Date(asset.createdAt)) : '';
    const kind = asset.type === 'video' ? 'Video' : 'Image';
    const spec = [kind, asset.aspectRatio, asset.style ? styleLabel(asset.style) : null].filter(Boolean);
    node.querySelector('.asset-spec').textContent = spec.join(' · ');
    fillParent(item);

    const caption = node.querySelector('.asset-caption');
    const hasCaption = typeof asset.caption === 'string' && asset.caption !== '';
    const stateText = hasCaption ? '' : captionState(asset);
    caption.hidden = !hasCaption && !stateText;
    caption.querySelector('.caption-text').textContent = hasCaption ? asset.caption : '';
    caption.querySelector('.caption-state').textContent = stateText;

    const ready = asset.status === 'ready' && safeUrl(asset.resultUrl) !== null;
    node.querySelector('.asset-actions').hidden = !ready;
    if (ready) node.querySelector('.original-link').href = safeUrl(asset.resultUrl);
    node.querySelector('.edit-button').hidden = !ready || asset.type !== 'image';
    const cancelling = cancelPending.has(asset.id);
    node.querySelector('.asset-controls').hidden = asset.status !== 'processing';
    const cancel = node.querySelector('.cancel-button');
    cancel.disabled = cancelling;
    cancel.classList.toggle('pending', cancelling);
    cancel.querySelector('.label').textContent = cancelling ? 'Cancelling…' : 'Cancel';
    const pending = captionPending.has(asset.id);
    const button = node.querySelector('.caption-button');
    button.disabled = pending;
    button.classList.toggle('pending', pending);
    button.querySelector('.label').textContent = pending ? 'Generating…' : 'Caption';
    node.querySelector('.copy-button').hidden = !hasCaption || !navigator.clipboard;
  }

  /** An edit's card names the image it came from, with its picture once the parent is in the gallery. */
  function fillParent(item) {
    const { asset, node } = item;
    const line = node.querySelector('.asset-parent');
    line.hidden = !asset.parentId;
    if (!asset.parentId) return;
    const parent = items.get(asset.parentId)?.asset;
    const url = parent && parent.status === 'ready' ? safeUrl(parent.resultUrl) : null;
    line.dataset.parentId = asset.parentId;
    line.title = parent?.prompt ?? '';
    line.querySelector('.parent-text').textContent = parent ? 'Edited from this image' : 'Edited from an earlier image';
    const parentKey = `${asset.parentId}|${Boolean(url)}`;
    if (parentKey === item.parentKey) return; // signed links differ on every fetch: no reload for that
    item.parentKey = parentKey;
    line.querySelector('.parent-thumb')?.remove();
    if (!url) return;
    const thumb = el('img', 'parent-thumb');
    thumb.alt = '';
    thumb.src = url;
    line.prepend(thumb);
  }

  function create(asset) {
    const node = document.getElementById('asset-template').content.firstElementChild.cloneNode(true);
    const item = { asset, node, mediaKey: null, parentKey: null };
    node.querySelector('.caption-button').addEventListener('click', () => onCaption(item.asset));
    node.querySelector('.copy-button').addEventListener('click', () => onCopy(item.asset));
    node.querySelector('.cancel-button').addEventListener('click', () => onCancel(item.asset));
    node.querySelector('.edit-button').addEventListener('click', () => onEdit(item.asset));
    fill(item);
    return item;
  }

  /** What the gallery's own list holds: single assets and batch groups, each by its newest asset. */
  function entries() {
    const singles = [...items.values()].filter((item) => !item.asset.batchId);
    const groups = [...batches.values()].map((batch) => ({ asset: batch.lead().asset, node: batch.node }));
    return [...singles, ...groups];
  }

  function insertSorted(container, entry, others) {
    const after = others
      .filter((other) => other.node !== entry.node && newestFirst(other.asset, entry.asset) > 0)
      .sort((a, b) => newestFirst(a.asset, b.asset))[0];
    container.insertBefore(entry.node, after ? after.node : null);
  }

  function batchFor(batchId) {
    let batch = batches.get(batchId);
    if (batch) return batch;
    const node = el('li', 'batch');
    node.dataset.batchId = batchId;
    const head = el('p', 'batch-head');
    const grid = el('ul', 'grid batch-grid');
    node.append(head, grid);
    const members = new Set();
    batch = { node, grid, head, members, lead: () => [...members].sort((a, b) => newestFirst(a.asset, b.asset))[0] };
    batches.set(batchId, batch);
    return batch;
  }

  function fillBatch(batch) {
    const count = batch.members.size;
    const ready = [...batch.members].filter((item) => item.asset.status === 'ready').length;
    batch.head.textContent = `Batch · ${count} ${count === 1 ? 'variant' : 'variants'} · ${ready} ready`;
  }

  function place(item) {
    const { batchId } = item.asset;
    if (!batchId) {
      insertSorted(list, item, entries());
      return;
    }
    const batch = batchFor(batchId);
    batch.members.add(item);
    // Inside a batch the variants keep the order they were asked in (oldest first).
    const members = [...batch.members];
    const later = members
      .filter((other) => other !== item && newestFirst(item.asset, other.asset) > 0)
      .sort((a, b) => newestFirst(b.asset, a.asset))[0];
    batch.grid.insertBefore(item.node, later ? later.node : null);
    fillBatch(batch);
    insertSorted(list, { asset: batch.lead().asset, node: batch.node }, entries());
  }

  /** The cards that show `asset` as their parent, and its batch's heading, follow its changes. */
  function refreshRelated(asset) {
    for (const other of items.values()) if (other.asset.parentId === asset.id) fillParent(other);
    const batch = asset.batchId ? batches.get(asset.batchId) : null;
    if (batch) fillBatch(batch);
  }

  function updateState() {
    if (items.size > 0) {
      state.hidden = true;
      return;
    }
    state.hidden = false;
    state.className = 'gallery-state';
    state.textContent = 'No generations yet. Create your first AI media above!';
  }

  return {
    /** Adds or updates an asset; an older version than the one shown is ignored. */
    upsert(asset) {
      if (!asset || typeof asset.id !== 'string') return null;
      const existing = items.get(asset.id);
      if (existing) {
        const previous = existing.asset;
        if (time(asset.updatedAt) < time(previous.updatedAt)) return previous;
        existing.asset = { ...asset };
        if (previous.caption && !asset.caption) {
          existing.asset.caption = previous.caption; // an on-demand caption the catalog has not seen yet
        }
        fill(existing);
        refreshRelated(existing.asset);
        return previous;
      }
      const item = create({ ...asset });
      items.set(asset.id, item);
      place(item);
      refreshRelated(item.asset);
      updateState();
      return null;
    },
    get(id) {
      return items.get(id)?.asset ?? null;
    },
    setCancelPending(id, pending) {
      cancelPending = new Set(cancelPending);
      if (pending) cancelPending.add(id);
      else cancelPending.delete(id);
      const item = items.get(id);
      if (item) fill(item);
    },
    setCaption(id, caption) {
      const item = items.get(id);
      if (!item) return;
      item.asset = { ...item.asset, caption, captionStatus: 'ready' };
      fill(item);
    },
    setCaptionPending(id, pending) {
      captionPending = new Set(captionPending);
      if (pending) captionPending.add(id);
      else captionPending.delete(id);
      const item = items.get(id);
      if (item) fill(item);
    },
    showCursor(nextCursor) {
      loadMore.hidden = !nextCursor;
    },
    loading() {
      if (items.size > 0) return;
      state.hidden = false;
      state.className = 'gallery-state loading';
      state.replaceChildren(el('span', 'spinner large'), el('span', '', 'Loading your generations…'));
    },
    failed(message) {
      if (items.size > 0) return;
      state.hidden = false;
      state.className = 'gallery-state failed';
      state.textContent = `Your generations could not be loaded: ${message}`;
    },
    loaded() {
      updateState();
    },
    clear() {
      items.clear();
      batches.clear();
      captionPending = new Set();
      cancelPending = new Set();
      list.replaceChildren();
      loadMore.hidden = true;
      state.hidden = true;
    },
  };
}
