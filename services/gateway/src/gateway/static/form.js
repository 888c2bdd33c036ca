// The generation form: type switch, providers and aspect ratios from the catalog, the prompt with its
// counter and inline validation, the optional reference image URL, and the request itself — with the
// creative controls: variants (images only), style chips, and a template picker with "save as template".

import { ApiError, randomKey } from './api.js';
import { createStyleChips, createTemplatePicker } from './creative.js';
import { $, fillOptions, showFieldError } from './dom.js';
import { toast } from './toast.js';

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

/**
 * onCreated(asset) after a 202, once per asset of a batch; onLimitReached(body) after the 403 of a
 * spent quota. loadCreative() fetches the styles and templates once signed in; clearCreative() forgets them.
 */
export function createGenerateForm({ catalog, api, onCreated, onLimitReached }) {
  const form = $('generate-form');
  const prompt = $('prompt');
  const reference = $('reference-url');
  const counter = $('prompt-counter');
  const variants = $('variants');
  let promptTouched = false;
  // Kept while the request stays the same, so that a retry after a lost answer is charged once.
  let idempotencyKey = null;
  const styles = createStyleChips({ onChange: () => changed() });
  const templates = createTemplatePicker({
    onChange: () => {
      showTemplateMode();
      changed();
    },
    onDelete: deleteTemplate,
  });

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

  /** With a template chosen its variables replace the prompt (the server fills it in). */
  function showTemplateMode() {
    $('prompt-field').hidden = templates.chosen() !== null;
  }

  function showVariants() {
    const video = selectedType() === 'video';
    $('variants-field').hidden = video;
    variants.disabled = video;
    showFieldError(variants, null);
  }

  function showProviders() {
    const providers = catalog.providersFor(selectedType());
    fillOptions($('provider'), providers.map(({ id, label }) => ({ value: id, label })), providers[0]?.id);
    showRatios();
    showVariants();
    styles.setType(selectedType());
    templates.setType(selectedType());
    showTemplateMode();
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
    const usingTemplate = templates.chosen() !== null;
    const fields = {
      prompt: usingTemplate ? $('template') : prompt,
      referenceImageUrl: reference,
      templateId: $('template'),
      variables: $('template'),
      style: $('style-chips'),
      variants,
    };
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
    templates.clearValues();
    promptTouched = false;
    showFieldError(prompt, null);
    showFieldError(reference, null);
    showPromptState();
    changed();
  }

  /** What the form asks for beyond the seed's fields; nothing extra for a plain single request. */
  function creativeFields() {
    const template = templates.chosen();
    const count = selectedType() === 'image' ? Number(variants.value) : 1;
    const style = styles.selected();
    return {
      ...(template ? { templateId: template.id, variables: templates.values() } : {}),
      ...(style ? { style } : {}),
      ...(count > 1 ? { variants: count } : {}),
    };
  }

  async function submit(event) {
    event.preventDefault();
    const template = templates.chosen();
    const referenceUrl = reference.value.trim();
    const referenceIssue = referenceProblem(referenceUrl);
    showFieldError(reference, referenceIssue);
    if (template) {
      if (!templates.check()) return;
    } else {
      promptTouched = true;
      showPromptState();
      if (promptProblem()) {
        prompt.focus();
        return;
      }
    }
    if (referenceIssue) {
      reference.focus();
      return;
    }
    const payload = {
      ...(template ? {} : { prompt: prompt.value.trim() }),
      provider: $('provider').value,
      type: selectedType(),
      aspectRatio: $('aspect-ratio').value,
      ...(referenceUrl ? { referenceImageUrl: referenceUrl } : {}),
      ...creativeFields(),
    };
    idempotencyKey ??= randomKey();
    setPending(true);
    $('form-error').hidden = true;
    try {
      const answer = await api.generate(payload, idempotencyKey);
      const batch = Array.isArray(answer.assets) ? answer.assets : null;
      toast(batch ? `${batch.length} variants started! ✨` : 'Generation started! ✨', {
        description: 'Your AI media is being generated. Check the gallery below for progress.',
      });
      reset();
      for (const asset of batch ?? [answer]) onCreated(asset);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status === 401) return; // 401: signed out already
      if (error.isLimitReached) await onLimitReached(error.body);
      else if (error.status === 400) showServerIssues(error);
      else toast('Generation failed', { description: error.message, variant: 'error' });
    } finally {
      setPending(false);
    }
  }

  /* ---------- styles and templates ---------- */

  async function loadCreative(selectId) {
    const [styleList, templateList] = await Promise.allSettled([api.styles(), api.templates()]);
    if (styleList.status === 'fulfilled') styles.setStyles(styleList.value.styles);
    if (templateList.status === 'fulfilled') templates.setTemplates(templateList.value.templates, selectId);
    showTemplateMode();
    for (const [what, result] of [['Styles', styleList], ['Templates', templateList]]) {
      if (result.status === 'rejected' && result.reason?.status !== 401) {
        toast(`${what} could not be loaded`, { description: result.reason?.message ?? '', variant: 'error' });
      }
    }
  }

  function clearCreative() {
    styles.clear();
    templates.clear();
    showTemplateMode();
  }

  const saveDialog = $('template-dialog');
  const templateName = $('template-name');

  function openSaveDialog() {
    promptTouched = true;
    showPromptState();
    if (promptProblem()) {
      prompt.focus();
      return;
    }
    $('template-save-prompt').textContent = prompt.value.trim();
    $('template-save-error').hidden = true;
    showFieldError(templateName, null);
    saveDialog.showModal();
    templateName.focus();
  }

  async function saveTemplate(event) {
    event.preventDefault();
    const name = templateName.value.trim();
    if (!name) {
      showFieldError(templateName, 'Give the template a name');
      templateName.focus();
      return;
    }
    const button = $('template-save');
    button.disabled = true;
    $('template-save-error').hidden = true;
    try {
      const saved = await api.saveTemplate({ name, type: selectedType(), prompt: prompt.value.trim() });
      saveDialog.close();
      templateName.value = '';
      toast('Template saved', { description: `"${saved.name}" is in your templates.` });
      await loadCreative(saved.id);
      changed();
    } catch (error) {
      if (error.status === 401) return;
      const general = [];
      for (const detail of error.details) {
        if (Array.isArray(detail.path) && detail.path[0] === 'name') showFieldError(templateName, detail.message);
        else general.push(detail.message);
      }
      if (general.length > 0 || error.details.length === 0) {
        $('template-save-error').textContent = general.join(' ') || error.message;
        $('template-save-error').hidden = false;
      }
    } finally {
      button.disabled = false;
    }
  }

  async function deleteTemplate(template) {
    const button = $('delete-template');
    button.disabled = true;
    try {
      await api.deleteTemplate(template.id);
      toast('Template deleted', { description: `"${template.name}" is no longer in your templates.` });
      await loadCreative('');
      changed();
    } catch (error) {
      if (error.status !== 401) toast('Could not delete the template', { description: error.message, variant: 'error' });
    } finally {
      button.disabled = false;
    }
  }

  $('save-template').addEventListener('click', openSaveDialog);
  $('template-form').addEventListener('submit', saveTemplate);
  $('template-save-close').addEventListener('click', () => saveDialog.close());
  templateName.addEventListener('input', () => showFieldError(templateName, null));
  variants.addEventListener('change', changed);

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
  return { reset, loadCreative, clearCreative };
}
