// Short notices in a corner of the screen; errors stay longer and are announced at once.

const DURATION_MS = { info: 5_000, error: 9_000 };

export function toast(title, { description = '', variant = 'info', sticky = false } = {}) {
  const container = document.getElementById('toasts');
  const node = document.createElement('div');
  node.className = `toast ${variant}`;
  node.setAttribute('role', variant === 'error' ? 'alert' : 'status');

  const text = document.createElement('div');
  const heading = document.createElement('p');
  heading.className = 'toast-title';
  heading.textContent = title;
  text.append(heading);
  if (description) {
    const body = document.createElement('p');
    body.className = 'toast-description';
    body.textContent = description;
    text.append(body);
  }

  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'toast-close';
  close.setAttribute('aria-label', 'Dismiss');
  close.textContent = '×';
  close.addEventListener('click', () => node.remove());

  node.append(text, close);
  container.append(node);
  while (container.children.length > 4) container.firstElementChild.remove();
  if (!sticky) setTimeout(() => node.remove(), DURATION_MS[variant] ?? DURATION_MS.info);
  return node;
}
