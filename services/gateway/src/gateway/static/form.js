// The generation form: type switch, providers and aspect ratios from the catalog, the prompt with its
// counter and inline validation, the optional reference image URL, and the request itself.

import { ApiError, randomKey } from './api.js';
import { $, showFieldError } from './dom.js';
import { toast } from './toast.js';

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

function referenceProblem(value) {
  if (!value) return null;
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return null;
  } catch {
    // not a URL at all: the same message
  }
  return 'Enter a full http(s) address, such as https://example.com/photo.jpg';
}

/** onCreated(asset) after a 202; onLimitReached(body) after the 403 of a spent quota. */
export function createGenerateForm({ catalog, api, onCreated, onLimitReached }) {
  const form = $('generate-form');
  const prompt = $('prompt');
  const reference = $('reference-url');
  const counter = $('prompt-counter');
  let promptTouched = false;
  // Kept while the request stays the same, so that a retry after a lost answer is charged once.
  let idempotencyKey = null;

  const selectedType = () => form.querySelector('input[name="type"]:checked')?.value ?? 'image';
  const buttonLabel = () => `Generate ${selectedType() === 'video' ? 'Video' : 'Image'}`;

  function promptProblem() {
    const length = prompt.value.trim().length;
    if (length < catalog.promptMinLength) return `Prompt must be at least ${catalog.promptMinLength} characters`;
    if (length > catalog.promptMaxLength) return `Prompt must be at most ${catalog.promptMaxLength} characters`;
    return null;
  }

  function showPromptState() {
    counter.textContent = `${prompt.value.length} / ${catalog.promptMaxLength} characters`;
    const problem = promptProblem();
    counter.classList.toggle('invalid', promptTouched && problem !== null);
    if (promptTouched) showFieldError(prompt, problem);
  }

  function changed() {
    idempotencyKey = null;
    $('form-error').hidden = true;
  }

  function showRatios() {
    const provider = catalog.provider($('provider').value);
    if (!provider) return;
    const ratios = provider.aspectRatios.map((ratio) => ({ value: ratio, label: ratioLabel(ratio) }));
    fillOptions($('aspect-ratio'), ratios, provider.defaultAspectRatio);
  }

  function showProviders() {
    const providers = catalog.providersFor(selectedType());
    fillOptions($('provider'), providers.map(({ id, label }) => ({ value: id, label })), providers[0]?.id);
    showRatios();
    $('generate-label').textContent = buttonLabel();
    changed();
  }

  function buildTypeSwitch() {
    $('type-switch').replaceChildren(
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

  function setPending(pending) {
    const button = $('generate');
    button.disabled = pending;
    button.classList.toggle('pending', pending);
    $('generate-label').textContent = pending ? 'Generating…' : buttonLabel();
  }

  function showServerIssues(error) {
    const fields = { prompt, referenceImageUrl: reference };
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

  function reset() {
    prompt.value = '';
    reference.value = '';
    promptTouched = false;
    showFieldError(prompt, null);
    showFieldError(reference, null);
    showPromptState();
    changed();
  }

  async function submit(event) {
    event.preventDefault();
    promptTouched = true;
    showPromptState();
    const referenceUrl = reference.value.trim();
    const referenceIssue = referenceProblem(referenceUrl);
    showFieldError(reference, referenceIssue);
    if (promptProblem() || referenceIssue) {
      (promptProblem() ? prompt : reference).focus();
      return;
    }
    const payload = {
      prompt: prompt.value.trim(),
      provider: $('provider').value,
      type: selectedType(),
      aspectRatio: $('aspect-ratio').value,
      ...(referenceUrl ? { referenceImageUrl: referenceUrl } : {}),
    };
    idempotencyKey ??= randomKey();
    setPending(true);
    $('form-error').hidden = true;
    try {
      const asset = await api.generate(payload, idempotencyKey);
      toast('Generation started! ✨', {
        description: 'Your AI media is being generated. Check the gallery below for progress.',
      });
      reset();
      onCreated(asset);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status === 401) return; // 401: signed out already
      if (error.isLimitReached) await onLimitReached(error.body);
      else if (error.status === 400) showServerIssues(error);
      else toast('Generation failed', { description: error.message, variant: 'error' });
    } finally {
      setPending(false);
    }
  }

  prompt.maxLength = catalog.promptMaxLength;
  buildTypeSwitch();
  showProviders();
  showPromptState();
  form.addEventListener('submit', submit);
  $('provider').addEventListener('change', () => {
    showRatios();
    changed();
  });
  $('aspect-ratio').addEventListener('change', changed);
  prompt.addEventListener('input', () => {
    changed();
    showPromptState();
  });
  prompt.addEventListener('blur', () => {
    if (prompt.value !== '') promptTouched = true;
    showPromptState();
  });
  reference.addEventListener('input', () => {
    changed();
    if (reference.getAttribute('aria-invalid') === 'true') showFieldError(reference, referenceProblem(reference.value.trim()));
  });
  return { reset };
}
