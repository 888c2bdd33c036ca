// Small DOM helpers shared by the page's modules.

export const $ = (id) => document.getElementById(id);

/** Shows (or clears, with null) the message under a field: the element `<field id>-error`. */
export function showFieldError(field, message) {
  const error = $(`${field.id}-error`);
  field.setAttribute('aria-invalid', message ? 'true' : 'false');
  error.textContent = message ?? '';
  error.hidden = !message;
}

/** Only http(s) URLs end up in src or href: anything else from the server is no URL at all. */
export function safeUrl(value) {
  if (typeof value !== 'string' || value === '') return null;
  try {
    const url = new URL(value, document.baseURI);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : null;
  } catch {
    return null;
  }
}

/** A select's options, as text, with `selected` chosen. */
export function fillOptions(select, options, selected) {
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
