// The admin page: the analytics of /api/admin/analytics as tiles and SVG charts, and a live count of
// what is in flight. No chart library: a few rectangles drawn under the page's own CSP.

import { restore, token } from './session.js';

const SVG = 'http://www.w3.org/2000/svg';
const LIVE_SECONDS = 10;

function svg(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

async function fetchAnalytics(days) {
  const to = new Date();
  const from = new Date(to.getTime() - days * 86_400_000);
  const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), granularity: 'day' });
  const response = await fetch(`/api/admin/analytics?${query}`, { headers: { Authorization: `Bearer ${token()}` } });
  if (response.status === 401 || response.status === 403) throw new Error('Only administrators can see analytics: sign in as one on the main page.');
  if (!response.ok) throw new Error(`Analytics are unavailable (${response.status}).`);
  return response.json();
}

function seconds(value) {
  return value === null || value === undefined ? '–' : `${Number(value).toFixed(1)} s`;
}

function showTotals(totals, inFlight) {
  document.getElementById('generations').textContent = String(totals.generations ?? 0);
  const rate = totals.success_rate;
  document.getElementById('success-rate').textContent = rate === null || rate === undefined ? '–' : `${(rate * 100).toFixed(1)} %`;
  document.getElementById('times').textContent = `${seconds(totals.p50_seconds)} / ${seconds(totals.p95_seconds)}`;
  document.getElementById('fallbacks').textContent = String(totals.fallbacks ?? 0);
  document.getElementById('active-users').textContent = String(totals.active_users ?? 0);
  document.getElementById('in-flight').textContent = String(inFlight ?? 0);
}

// Dollars as an admin reads them: cents for a few, fractions of a cent for a single image.
function usd(value) {
  if (value === null || value === undefined) return '–';
  const amount = Number(value);
  return `$${amount >= 1 || amount === 0 ? amount.toFixed(2) : amount.toPrecision(2)}`;
}

// Why paid work delivered nothing, in the operators' words (generator costs' `why`).
const WASTE_REASONS = {
  after_cancel: 'finished after the user cancelled',
  task_after_fallback: 'KIE task that surfaced after the fallback',
  answer_lost: 'answer lost in transit (estimated)',
};

function showCosts(report) {
  const waste = report.waste ?? { usd: 0, count: 0, byReason: [] };
  const costs = report.costs ?? { totals: {}, byProvider: [], daily: [] };
  document.getElementById('spend').textContent = usd(costs.totals.usd ?? 0);
  document.getElementById('cost-per-asset').textContent = usd(report.costPerDeliveredAsset);
  document.getElementById('waste').textContent = `${usd(waste.usd)} · ${waste.count} call${waste.count === 1 ? '' : 's'}`;
  const stacks = [
    ['deliveredUsd', 'bar-ready'],
    ['failedUsd', 'bar-failed'],
    ['wastedUsd', 'bar-waste'],
  ];
  drawBars(document.getElementById('provider-costs'), costs.byProvider, (row) => `${row.provider} · ${usd(row.costPerDeliveredAsset)}/asset`, stacks, usd);
  drawBars(document.getElementById('daily-costs'), costs.daily, (row) => row.day.slice(5), stacks, usd);
  document.getElementById('waste-reasons').replaceChildren(
    ...waste.byReason.map(({ reason, count, usd: amount }) => {
      const item = document.createElement('li');
      item.textContent = `${WASTE_REASONS[reason] ?? reason}: ${count} × · ${usd(amount)}`;
      return item;
    }),
  );
}

function drawBars(chart, rows, label, stacks, format = String) {
  chart.replaceChildren();
  const width = chart.clientWidth || 600;
  const height = chart.clientHeight || 220;
  chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
  if (!rows.length) {
    chart.append(svg('text', { x: 8, y: 20 }, 'No generations in this range.'));
    return;
  }
  // The tallest stack fills the chart (dollars are often fractions of one); all zero draws nothing.
  const top = Math.max(...rows.map((row) => stacks.reduce((sum, [key]) => sum + (row[key] ?? 0), 0))) || 1;
  const slot = width / rows.length;
  const usable = height - 24;
  rows.forEach((row, index) => {
    let y = usable;
    for (const [key, className] of stacks) {
      const value = row[key] ?? 0;
      const h = (value / top) * (usable - 8);
      y -= h;
      const barWidth = Math.min(slot * 0.7, 64);
      const bar = svg('rect', { x: index * slot + (slot - barWidth) / 2, y, width: barWidth, height: h, class: className });
      bar.append(svg('title', {}, `${label(row)}: ${format(value)} ${key}`));
      chart.append(bar);
    }
    chart.append(svg('text', { x: index * slot + slot / 2, y: height - 6, 'text-anchor': 'middle' }, label(row)));
  });
}

function showPrompts(prompts) {
  const list = document.getElementById('prompts');
  list.replaceChildren(
    ...prompts.map(({ prompt, count }) => {
      const item = document.createElement('li');
      item.textContent = prompt;
      const badge = document.createElement('span');
      badge.className = 'count';
      badge.textContent = `× ${count}`;
      item.append(badge);
      return item;
    }),
  );
}

async function refresh() {
  const message = document.getElementById('message');
  try {
    const days = Number(document.getElementById('range').value);
    const report = await fetchAnalytics(days);
    message.hidden = true;
    showTotals(report.totals, report.in_flight);
    drawBars(document.getElementById('daily'), report.daily, (row) => row.day.slice(5), [
      ['ready', 'bar-ready'],
      ['failed', 'bar-failed'],
    ]);
    drawBars(document.getElementById('providers'), report.by_provider, (row) => `${row.provider} ${row.media_type}`, [
      ['generations', 'bar-provider'],
    ]);
    showCosts(report);
    showPrompts(report.top_prompts);
    document.body.dataset.loaded = 'true';
  } catch (error) {
    message.textContent = error.message;
    message.hidden = false;
    document.body.dataset.loaded = 'error';
  }
}

// The session the main page keeps (an admin signs in there, or the host app hands the token).
restore();
document.getElementById('range').addEventListener('change', refresh);
refresh();
setInterval(refresh, LIVE_SECONDS * 1000);
