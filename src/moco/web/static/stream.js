// The session's event stream: EventSource with ?after=N, de-duplicated by event id.
// The browser reconnects by itself (Last-Event-ID); when it gives up (closed), we check
// the login and reopen from the last id we saw.

import { request, sessionPath } from "./api.js";

export const EVENT_TYPES = [
  "run_started", "text_delta", "message", "tool_call_started", "tool_call_finished",
  "agent_delegated", "agent_returned", "context_compressed", "agents_selected", "usage",
  "attempt_discarded", "warning", "error", "run_finished", "turn_started",
  "permission_request", "permission_resolved", "turn_finished", "reset",
];

export class EventStream {
  constructor(sessionId, after, onEvent, onState) {
    this.sessionId = sessionId;
    this.lastId = after;
    this.onEvent = onEvent;
    this.onState = onState || (() => {});
    this.source = null;
    this.closed = false;
    this.retry = 0;
    this.open();
  }

  open() {
    if (this.closed) return;
    const url = sessionPath(this.sessionId, "events") + `?after=${this.lastId}`;
    const source = new EventSource(url, { withCredentials: true });
    this.source = source;
    const listener = (message) => this.receive(message);
    for (const type of EVENT_TYPES) source.addEventListener(type, listener);
    source.onmessage = listener;
    source.onopen = () => { this.retry = 0; this.onState("open"); };
    // an `event: error` message (moco's error event) is dispatched as "error" too
    source.onerror = (event) => { if (!(event instanceof MessageEvent)) this.failed(source); };
  }

  receive(message) {
    if (!(message instanceof MessageEvent) || typeof message.data !== "string") return;
    const id = parseInt(message.lastEventId, 10);
    if (Number.isFinite(id)) {
      if (id <= this.lastId && message.type !== "reset") return;
      this.lastId = id;
    }
    let data;
    try { data = JSON.parse(message.data); } catch { return; }
    if (!data.type) data.type = message.type;
    this.onEvent(data, id);
  }

  failed(source) {
    if (this.closed || source !== this.source) return;
    this.onState("reconnecting");
    if (source.readyState !== EventSource.CLOSED) return;
    // closed for good (an error status): see whether we are still logged in, then retry
    this.retry = Math.min(this.retry + 1, 6);
    const delay = 500 * 2 ** this.retry;
    request("GET", sessionPath(this.sessionId)).then(
      () => setTimeout(() => this.open(), delay),
      (error) => {
        if (error.status === 404) this.onState("gone"); // deleted (in another tab)
        else if (error.status !== 401) setTimeout(() => this.open(), delay);
      },
    );
  }

  /** Read on from `id` (after a reset). */
  restartFrom(id) {
    this.lastId = id;
    this.source?.close();
    this.open();
  }

  close() {
    this.closed = true;
    this.source?.close();
    this.source = null;
  }
}
