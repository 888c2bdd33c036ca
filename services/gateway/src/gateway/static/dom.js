// Small DOM helpers shared by the page's modules.

export const $ = (id) => document.getElementById(id);

/** Shows (or clears, with null) the message under a field: the element `<field id>-error`. */
export function showFieldError(field, message) {
  const error = $(`${field.id}-error`);
  field.setAttribute('aria-invalid', message ? 'true' : 'false');
  error.textContent = message ?? '';
  error.hidden = !message;
}
