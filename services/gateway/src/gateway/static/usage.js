// The usage meter in the top bar and the dialog shown when the monthly limit is reached.

import { $ } from './dom.js';

// Quotas renew at 00:00 UTC on the 1st: the day is told in UTC, wherever the user is.
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'long', timeZone: 'UTC' });

const SETTLE_FIRST_MS = 1000;
const SETTLE_MAX_MS = 15000;

export function createUsage(api) {
  let last = null;
  let timer = null;

  function show(usage) {
    last = usage;
    const plan = usage.plan === 'pro' ? 'Pro plan' : 'Free plan';
    const meter = $('usage');
    if (usage.limit === null || usage.limit === undefined) {
      $('usage-text').textContent = `${plan} · ${usage.used} this month · unlimited`;
      $('usage-fill').style.width = '0%';
      meter.dataset.level = 'ok';
      meter.title = '';
      return;
    }
    const taken = Math.max(0, usage.limit - (usage.remaining ?? 0));
    const inProgress = usage.reserved > 0 ? ` (${usage.reserved} in progress)` : '';
    $('usage-text').textContent = `${plan} · ${taken} / ${usage.limit} this month${inProgress}`;
    $('usage-fill').style.width = `${usage.limit > 0 ? Math.min(100, (taken / usage.limit) * 100) : 100}%`;
    meter.dataset.level = usage.remaining <= 0 ? 'full' : usage.remaining <= 2 ? 'low' : 'ok';
    meter.title = `Renews on ${dayFormat.format(new Date(usage.periodEnd))}`;
  }

  // While units are reserved the meter looks again, less and less often: usage applies a settlement a
  // moment after the asset changed (later on a busy system), and no further change would tell the page.
  let settleDelay = SETTLE_FIRST_MS;

  async function refresh() {
    clearTimeout(timer);
    try {
      const usage = await api.usage();
      show(usage);
      if (usage.reserved > 0) {
        timer = setTimeout(refresh, settleDelay);
        settleDelay = Math.min(settleDelay * 2, SETTLE_MAX_MS);
      } else {
        settleDelay = SETTLE_FIRST_MS;
      }
    } catch (error) {
      if (error.status !== 401) $('usage-text').textContent = 'Usage unavailable';
    }
  }

  return {
    refresh,
    /** Refreshes soon, once, however many assets changed meanwhile. */
    refreshSoon() {
      clearTimeout(timer);
      settleDelay = SETTLE_FIRST_MS;
      timer = setTimeout(refresh, 400);
    },
    /** The seed's LimitReachedDialog, with the server's own message. */
    async showLimitReached(body) {
      await refresh();
      $('limit-message').textContent =
        body.message || `Your plan allows ${body.limit ?? 'a limited number of'} AI generations per month.`;
      $('limit-reset').textContent = last?.periodEnd
        ? `Your generations renew on ${dayFormat.format(new Date(last.periodEnd))}.`
        : '';
      const dialog = $('limit-dialog');
      if (!dialog.open) dialog.showModal();
    },
    clear() {
      clearTimeout(timer);
      last = null;
      $('usage-text').textContent = 'Loading usage…';
      $('usage-fill').style.width = '0%';
      $('limit-dialog').close();
    },
  };
}
