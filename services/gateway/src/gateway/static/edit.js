// Editing a ready image: a dialog that shows the parent image, asks what should change and with which
// image provider, and sends POST api/ai/media/{id}/edit. The new asset appears in the gallery as the
// parent's child.

import { ApiError, randomKey } from './api.js';
import { $, fillOptions, safeUrl, showFieldError } from './dom.js';
import { toast } from './toast.js';

// Flux Kontext is the editing model the product is built around; the others edit too.
const PREFERRED_EDITOR = 'kie-flux-kontext';

/** onCreated(asset) after a 202; onLimitReached(body) after the 403 of a spent quota. */
export function createEditDialog({ catalog, api, onCreated, onLimitReached }) {
  const dialog = $('edit-dialog');
  const prompt = $('edit-prompt');
  const provider = $('edit-provider');
  const ratio = $('edit-aspect-ratio');
  const error = $('edit-error');
  let parent = null;
  let idempotencyKey = null;

  function changed() {
    idempotencyKey = null;
    error.hidden = true;
  }

  function showRatios() {
    const chosen = catalog.provider(provider.value);
    if (!chosen) return;
    const keep = chosen.aspectRatios.includes(parent?.aspectRatio) ? parent.aspectRatio : chosen.defaultAspectRatio;
    fillOptions(ratio, chosen.aspectRatios.map((value) => ({ value, label: value })), keep);
  }

  function problem() {
    const length = prompt.value.trim().length;
    if (length < catalog.promptMinLength) return `Describe the change in at least ${catalog.promptMinLength} characters`;
    if (length > catalog.promptMaxLength) return `Describe the change in at most ${catalog.promptMaxLength} characters`;
    return null;
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }

  function setPending(pending) {
    const button = $('edit-submit');
    button.disabled = pending;
    button.classList.toggle('pending', pending);
    button.querySelector('.label').textContent = pending ? 'Editing…' : 'Edit image';
  }

  async function submit(event) {
    event.preventDefault();
    const issue = problem();
    showFieldError(prompt, issue);
    if (issue) {
      prompt.focus();
      return;
    }
    idempotencyKey ??= randomKey();
    setPending(true);
    error.hidden = true;
    try {
      const payload = { prompt: prompt.value.trim(), provider: provider.value, aspectRatio: ratio.value };
      const child = await api.edit(parent.id, payload, idempotencyKey);
      dialog.close();
      toast('Edit started! ✨', { description: 'The edited image appears in the gallery next to its original.' });
      onCreated(child);
    } catch (failure) {
      if (!(failure instanceof ApiError) || failure.status === 401) return; // 401: signed out already
      if (failure.isLimitReached) {
        dialog.close();
        await onLimitReached(failure.body);
        return;
      }
      const general = [];
      for (const detail of failure.details) {
        if (Array.isArray(detail.path) && detail.path[0] === 'prompt') showFieldError(prompt, detail.message);
        else general.push(detail.message);
      }
      if (general.length > 0 || failure.details.length === 0) showError(general.join(' ') || failure.message);
    } finally {
      setPending(false);
    }
  }

  $('edit-form').addEventListener('submit', submit);
  $('edit-close').addEventListener('click', () => dialog.close());
  provider.addEventListener('change', () => {
    showRatios();
    changed();
  });
  ratio.addEventListener('change', changed);
  prompt.addEventListener('input', () => {
    changed();
    if (prompt.getAttribute('aria-invalid') === 'true') showFieldError(prompt, problem());
  });

  return {
    /** Opens the dialog for a ready image of the user's. */
    open(asset) {
      parent = asset;
      changed();
      const image = $('edit-parent-image');
      const url = safeUrl(asset.resultUrl);
      if (url) image.src = url;
      image.alt = `The image to edit: ${asset.prompt ?? ''}`;
      $('edit-parent-prompt').textContent = asset.prompt ?? '';
      const editors = catalog.providersFor('image');
      const preferred = editors.find((each) => each.id === PREFERRED_EDITOR) ?? editors[0];
      fillOptions(provider, editors.map(({ id, label }) => ({ value: id, label })), preferred?.id);
      showRatios();
      prompt.value = '';
      showFieldError(prompt, null);
      dialog.showModal();
      prompt.focus();
    },
    close() {
      if (dialog.open) dialog.close();
    },
  };
}
