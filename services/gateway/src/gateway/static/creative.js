// The form's creative controls: style chips and the template picker with its variables as fields.
// Both lists come from the gateway (GET api/ai/styles, GET api/ai/templates) once the user is signed
// in, and both follow the chosen media type.

import { $, showFieldError } from './dom.js';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]{0,39})\}/g;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** "time_of_day" → "Time of day": the label of a template's variable. */
export function variableLabel(name) {
  const words = name.replace(/_+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The template's prompt with the given values put in; a blank one keeps its {placeholder}. */
export function fillIn(prompt, values) {
  return prompt.replace(PLACEHOLDER, (whole, name) => (values[name]?.trim() ? values[name].trim() : whole));
}

/** One chip per style offered for the type; at most one pressed. onChange() after every change. */
export function createStyleChips({ onChange }) {
  const field = $('style-field');
  const chips = $('style-chips');
  let styles = [];
  let type = 'image';
  let selected = null;

  function show() {
    const offered = styles.filter((style) => style.types.includes(type));
    if (selected && !offered.some((style) => style.id === selected)) selected = null;
    chips.replaceChildren(
      ...offered.map((style) => {
        const chip = el('button', 'chip', style.name);
        chip.type = 'button';
        chip.dataset.style = style.id;
        chip.title = style.description;
        chip.setAttribute('aria-pressed', String(style.id === selected));
        chip.addEventListener('click', () => {
          selected = selected === style.id ? null : style.id;
          showFieldError(chips, null);
          show();
          onChange();
        });
        return chip;
      }),
    );
    field.hidden = offered.length === 0;
  }

  return {
    setStyles(list) {
      styles = Array.isArray(list) ? list : [];
      show();
    },
    setType(value) {
      type = value;
      show();
    },
    selected: () => selected,
    clear() {
      styles = [];
      selected = null;
      show();
    },
  };
}

/**
 * The template select (the library, then the user's own), the chosen template's variables as
 * fields and a preview of the prompt they make. onChange() after every change; onDelete(template)
 * from the Delete button of one of the user's own.
 */
export function createTemplatePicker({ onChange, onDelete }) {
  const select = $('template');
  const fields = $('template-fields');
  const variables = $('template-variables');
  const preview = $('template-preview');
  const deleteButton = $('delete-template');
  let templates = [];
  let type = 'image';
  let inputs = new Map(); // variable name → input

  const chosen = () => templates.find((template) => template.id === select.value) ?? null;

  function values() {
    return Object.fromEntries([...inputs].map(([name, input]) => [name, input.value]));
  }

  function showPreview() {
    const template = chosen();
    preview.textContent = template ? fillIn(template.prompt, values()) : '';
  }

  function option(template) {
    const node = el('option', '', template.name);
    node.value = template.id;
    return node;
  }

  function group(label, list) {
    const node = el('optgroup');
    node.label = label;
    node.append(...list.map(option));
    return node;
  }

  function buildFields(template) {
    inputs = new Map();
    variables.replaceChildren(
      ...(template?.variables ?? []).map((name) => {
        const box = el('div', 'template-variable');
        const input = el('input');
        input.id = `template-var-${name}`;
        input.name = name;
        input.maxLength = 200;
        input.autocomplete = 'off';
        input.setAttribute('aria-describedby', `${input.id}-error`);
        const label = el('label', '', variableLabel(name));
        label.htmlFor = input.id;
        const error = el('p', 'field-error');
        error.id = `${input.id}-error`;
        error.hidden = true;
        input.addEventListener('input', () => {
          if (input.value.trim()) showFieldError(input, null);
          showPreview();
          onChange();
        });
        inputs.set(name, input);
        box.append(label, input, error);
        return box;
      }),
    );
  }

  function showChosen() {
    const template = chosen();
    fields.hidden = template === null;
    deleteButton.hidden = template?.owner !== 'me';
    buildFields(template);
    showPreview();
    showFieldError(select, null);
  }

  function show(keep) {
    const offered = templates.filter((template) => template.type === type);
    const library = offered.filter((template) => template.owner !== 'me');
    const own = offered.filter((template) => template.owner === 'me');
    const none = el('option', '', 'None: write your own prompt');
    none.value = '';
    select.replaceChildren(
      none,
      ...(library.length ? [group('Library', library)] : []),
      ...(own.length ? [group('Yours', own)] : []),
    );
    select.value = offered.some((template) => template.id === keep) ? keep : '';
    const same = chosen()?.id === keep && inputs.size > 0;
    if (!same) showChosen(); // the fields keep what the user typed while their template stays chosen
  }

  select.addEventListener('change', () => {
    showChosen();
    onChange();
  });
  deleteButton.addEventListener('click', () => {
    const template = chosen();
    if (template?.owner === 'me') onDelete(template);
  });
  show('');

  return {
    setTemplates(list, selectId = select.value) {
      templates = Array.isArray(list) ? list : [];
      show(selectId);
    },
    setType(value) {
      type = value;
      show(select.value);
    },
    chosen,
    values,
    /** The first variable left blank is marked and focused; true when every one is filled. */
    check() {
      let first = null;
      for (const [name, input] of inputs) {
        const blank = !input.value.trim();
        showFieldError(input, blank ? `Fill in ${variableLabel(name).toLowerCase()}` : null);
        if (blank) first ??= input;
      }
      first?.focus();
      return first === null;
    },
    clearValues() {
      for (const input of inputs.values()) {
        input.value = '';
        showFieldError(input, null);
      }
      showPreview();
    },
    clear() {
      templates = [];
      show('');
    },
  };
}
