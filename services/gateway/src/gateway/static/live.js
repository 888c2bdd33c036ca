// Live asset updates: server-sent events from GET api/ai/media/events, read with fetch so that the token
// travels in the Authorization header (not in the URL); polling every 10 s whenever the stream is down.

import { resolve } from './api.js';

export const POLL_INTERVAL_MS = 10_000;
const MIN_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;
const STEADY_STREAM_MS = 5_000;
// The server has no event stream at all: polling is the way, for as long as the page is open.
const NO_STREAM = new Set([404, 405, 501]);

function sleep(ms, signal) {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); done(); }, { once: true });
  });
}

/** Reads an event stream, calling onEvent({type, data, id}) for each event (the SSE wire format). */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let data = [];
  let type = '';
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    // A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
    const lines = buffer.split(/\r\n|\n|\r(?!$)/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) onEvent({ type: type || 'message', data: data.join('\n'), id });
        data = [];
        type = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let content = colon === -1 ? '' : line.slice(colon + 1);
      if (content.startsWith(' ')) content = content.slice(1);
      if (field === 'data') data.push(content);
      else if (field === 'event') type = content;
      else if (field === 'id' && !content.includes('\0')) id = content;
    }
  }
}

/**
 * Keeps the gallery current. onAsset(asset) for each change; onResync() when the whole list should be
 * fetched again (on every (re)connection and every poll); onMode('live'|'polling'); onUnauthorized().
 * Returns a function that stops everything.
 */
export function connectLive({ getToken, onAsset, onResync, onMode, onUnauthorized }) {
  const controller = new AbortController();
  const { signal } = controller;
  let lastEventId = null;
  let pollTimer = null;

  function startPolling() {
    if (pollTimer !== null) return;
    onMode('polling');
    pollTimer = setInterval(() => {
      if (!document.hidden) onResync();
    }, POLL_INTERVAL_MS);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  async function stream() {
    const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${getToken()}` };
    if (lastEventId !== null) headers['Last-Event-ID'] = lastEventId;
    const response = await fetch(resolve('api/ai/media/events'), { headers, signal, cache: 'no-store' });
    const contentType = response.headers.get('content-type') ?? '';
    if (!response.ok || !contentType.startsWith('text/event-stream') || !response.body) {
      await response.body?.cancel();
      return response.status;
    }
    stopPolling();
    onMode('live');
    onResync();
    await readEvents(response.body, (event) => {
      if (event.id !== null) lastEventId = event.id;
      if (event.type !== 'asset') return;
      let asset;
      try {
        asset = JSON.parse(event.data);
      } catch {
        return; // not an asset: nothing to show
      }
      onAsset(asset);
    });
    return 'ended';
  }

  async function run() {
    let retry = MIN_RETRY_MS;
    while (!signal.aborted) {
      const openedAt = Date.now();
      let outcome;
      try {
        outcome = await stream();
      } catch {
        outcome = 'failed';
      }
      if (signal.aborted) return;
      if (outcome === 401) {
        onUnauthorized();
        return;
      }
      startPolling();
      if (NO_STREAM.has(outcome)) return;
      retry = outcome === 'ended' && Date.now() - openedAt > STEADY_STREAM_MS ? MIN_RETRY_MS : Math.min(retry * 2, MAX_RETRY_MS);
      await sleep(retry, signal);
    }
  }

  function onVisible() {
    if (!document.hidden && pollTimer !== null) onResync();
  }

  document.addEventListener('visibilitychange', onVisible);
  run();
  return () => {
    controller.abort();
    stopPolling();
    document.removeEventListener('visibilitychange', onVisible);
  };
}
