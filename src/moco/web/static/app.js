// moco ui: the page. Plain ES modules, no build step, nothing from the internet.
//
// Stable hooks for browser tests:
//   #prompt              the message input (Enter sends, Shift+Enter newline)
//   #send, #stop         send button; stop button (visible while a turn runs)
//   #status              text "idle" or "running" (also data-state)
//   #messages            the transcript; .msg.user and .msg.assistant inside
//   .msg.assistant .md   rendered Markdown of the answer (.streaming while text arrives)
//   .tool-call           <details> per tool call: data-tool=<name>, data-status=running|done|error,
//                        data-call-id; .tc-name, .tc-args, .tc-duration, .tc-arguments, .tc-output
//   .agent-node          <details> per sub-agent: data-agent=<name>, data-run-id,
//                        data-status=running|completed|cancelled|error (data-run-status: raw);
//                        .an-tokens (tokens), .an-content (its text, tool calls, sub-agents)
//   .note.note-error / .note-warning / .note-info   errors, warnings, notices in the transcript
//   #permission-dialog   the ask; #perm-agent, #perm-tool, #perm-description, #perm-rule,
//                        #perm-reason, buttons #perm-once, #perm-always, #perm-deny
//   #session-list .session-item[data-id] (.active = current, .running); .session-open,
//                        .session-rename, .session-delete (native confirm()); .session-group
//                        headings (Today…); #session-search; #new-session
//   #prompt-dialog       text input dialog (#prompt-input, #prompt-ok, #prompt-cancel): rename,
//                        working directory
//   #profile, #provider, #model (input; change/Enter applies), #workdir (#workdir-path), #usage
//   #attach, #file-input, #attachments .attachment-chip[data-id]
//   #open-files, #open-checkpoints, #panel, #files-list .file-open[data-path], #file-content,
//   #checkpoint-name, #checkpoint-save, #checkpoint-list .checkpoint-item[data-name]
//                        .checkpoint-restore (native confirm())
//   #export-menu (its summary opens it): #export-md, #export-json, #compact; #theme-toggle
//   ≤ 640 px: #sidebar-toggle (sessions drawer), #settings-toggle (pickers), #new-session-top
//   .tab[data-tab=files|checkpoints|usage], #panel-close
//   .msg-footer .copy-answer, .turn-tokens   under a finished answer
//   #login (the token form: #login-token, #login-submit, #login-error); #toasts .toast
//   #empty-state (a chat without messages); #scroll-down (shown when scrolled up);
//   body.is-running, body.reconnecting, body.scrolled-up

import { api, sessionPath, setupLogin, ApiError } from "./api.js";
import { Conversation } from "./conversation.js";
import { EventStream } from "./stream.js";
import { PermissionAsks } from "./permissions.js";
import { Sidebar, sessionLabel } from "./sidebar.js";
import { Toolbar } from "./toolbar.js";
import { Panel } from "./panel.js";
import { Composer } from "./composer.js";
import { $, setupTheme, toast } from "./ui.js";

const state = { id: null, session: null, stream: null, loadToken: 0, running: false };

const conversation = new Conversation($("#messages"), {
  uploadUrl: (uploadId) => sessionPath(state.id, "uploads", uploadId),
  onUsage: () => scheduleUsage(),
});

const permissions = new PermissionAsks($("#permission-dialog"), {
  getSessionId: () => state.id,
  onError: (message) => toast(message, "error"),
});

const sidebar = new Sidebar({
  onSelect: (id) => openSession(id),
  onNew: () => newDraft(),
  onDeleted: (id) => { if (id === state.id) newDraft(); },
  onRenamed: (session) => { if (session.id === state.id) showSession(session); },
});

const toolbar = new Toolbar({
  onProfile: (profile) => changeProfile(profile),
  onModel: (value, choice) => changeModel(value, choice),
  onWorkdir: (path) => changeWorkdir(path),
});

const panel = new Panel({
  getSessionId: () => state.id,
  ensureSession: () => ensureSession(),
  onRestored: () => reloadSession(),
});

const composer = new Composer({
  ensureSession: () => ensureSession(),
  onSend: (text, attachments) => sendMessage(text, attachments),
  onStop: () => stopTurn(),
});

// ------------------------------------------------------------ sessions

function hashSession() {
  const match = /(?:^#|&)s=([^&]+)/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function setHash(id) {
  const hash = id ? `#s=${encodeURIComponent(id)}` : "";
  if (location.hash !== hash) history.replaceState(null, "", location.pathname + location.search + hash);
}

function closeStream() {
  state.stream?.close();
  state.stream = null;
}

function resetView() {
  closeStream();
  conversation.clear();
  permissions.clear();
  composer.clearUploads();
  setRunning(false);
}

function showSession(session) {
  state.session = session;
  toolbar.setTitle(session ? sessionLabel(session) : "New chat");
  toolbar.show(session);
}

function updateEmpty() {
  $("#empty-state").hidden = Boolean($("#messages").childElementCount);
}

/** No session yet: the first message (or upload) creates it with the pickers' choices. */
function newDraft() {
  const last = state.session;
  if (last) toolbar.draft = { profile: last.profile, provider: last.provider, model: last.model };
  resetView();
  state.id = null;
  state.loadToken++;
  setHash(null);
  sidebar.setActive(null);
  showSession(null);
  panel.sessionChanged();
  updateEmpty();
  composer.focus();
}

async function openSession(id, { quiet = false } = {}) {
  const token = ++state.loadToken;
  let view;
  let uploads;
  try {
    // stored messages name their attachments; the uploads list turns them into chips
    [view, uploads] = await Promise.all([api.get(sessionPath(id) + "?all=1"),
      api.get(sessionPath(id, "uploads")).catch(() => [])]);
  } catch (error) {
    if (token !== state.loadToken) return;
    if (error.status !== 401) toast(error.status === 404 ? "That session no longer exists." : error.message, "error");
    if (error.status === 404) newDraft();
    return;
  }
  if (token !== state.loadToken) return;
  const previous = state.id;
  resetView();
  state.id = view.id;
  conversation.uploads = Array.isArray(uploads) ? uploads : [];
  setHash(view.id);
  sidebar.setActive(view.id);
  showSession(view);
  renderView(view);
  if (previous !== view.id) panel.sessionChanged();
  if (!quiet) composer.focus();
}

/** Stored messages, then the stream: from the turn's first event when it runs (contract's Live). */
function renderView(view) {
  const live = view.live || {};
  let messages = view.messages || [];
  let after = live.last_event_id ?? 0;
  if (live.running && live.run_start_event_id !== null && live.run_start_event_id !== undefined) {
    if (live.history_seq !== null && live.history_seq !== undefined) {
      messages = messages.filter((m) => m.seq <= live.history_seq);
    }
    after = live.run_start_event_id - 1;
    setRunning(true);
  }
  conversation.renderHistory(messages);
  conversation.scrollToBottom();
  updateEmpty();
  permissions.reset(view.pending_permissions || []);
  state.stream = new EventStream(view.id, after, onEvent, onStreamState);
}

async function reloadSession() {
  if (state.id) await openSession(state.id, { quiet: true });
  sidebar.refresh();
}

/** `reset`: the ids we asked for are gone; show what is stored, read on from last_event_id. */
async function afterReset(lastEventId) {
  const id = state.id;
  let view;
  try {
    view = await api.get(sessionPath(id) + "?all=1");
  } catch (error) {
    return;
  }
  if (id !== state.id) return;
  conversation.clear();
  conversation.renderHistory(view.messages || []);
  permissions.reset(view.pending_permissions || []);
  setRunning(Boolean(view.live?.running));
  showSession(view);
  updateEmpty();
  if (state.stream) state.stream.lastId = Math.max(state.stream.lastId, lastEventId);
}

async function createSession(extra = {}) {
  const body = { ...toolbar.draftChoices(), ...extra };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  const session = await api.post("/api/sessions", body);
  await openSession(session.id, { quiet: true });
  sidebar.refresh();
  return session.id;
}

let creating = null;

/** The active session's id, creating it first when this is a draft. */
async function ensureSession() {
  if (state.id) return state.id;
  if (!creating) creating = createSession().finally(() => { creating = null; });
  return creating;
}

// ------------------------------------------------------------ turns

function setRunning(running) {
  state.running = running;
  composer.setRunning(running);
  toolbar.setStatus(running ? "running" : "idle");
}

async function sendMessage(text, attachments) {
  let id;
  try {
    id = await ensureSession();
    const body = { text };
    if (attachments.length) body.attachments = attachments;
    const answer = await api.post(sessionPath(id, "messages"), body);
    // the stream may have shown the whole turn already (a fast one): then it is over
    const first = answer?.event_id;
    if (!state.stream || first === undefined || state.stream.lastId < first) setRunning(true);
  } catch (error) {
    if (error.status === 409) toast("The session is still answering — stop it or wait.", "error");
    else if (error.status !== 401) toast(error.message, "error");
    return false;
  }
  return true;
}

async function stopTurn() {
  if (!state.id) return;
  try {
    const answer = await api.post(sessionPath(state.id, "cancel"));
    if (answer && answer.cancelled === false) setRunning(false);
  } catch (error) {
    toast(error.message, "error");
  }
}

let usageTimer = 0;
function scheduleUsage() {
  if (usageTimer) return;
  usageTimer = setTimeout(() => { usageTimer = 0; toolbar.refreshUsage(state.id); }, 1500);
}

function onEvent(event) {
  switch (event.type) {
    case "reset": afterReset(event.last_event_id); return;
    case "permission_request": permissions.add(event); return;
    case "permission_resolved": permissions.resolved(event.ask_id); return;
    case "turn_started": setRunning(true); maybeTitle(event.text || ""); break;
    case "turn_finished": turnOver(); break;
    default: break;
  }
  conversation.handle(event);
  updateEmpty();
}

function turnOver() {
  setRunning(false);
  permissions.clear();
  toolbar.refreshUsage(state.id);
  sidebar.refresh().then(() => {
    const fresh = sidebar.sessions.find((s) => s.id === state.id);
    if (!fresh) return;
    state.session = { ...state.session, ...fresh };
    toolbar.setTitle(sessionLabel(fresh));
  });
}

function maybeTitle(text) {
  const session = state.session;
  if (!session || session.title || session.name || !text.trim()) return;
  session.title = text; // asked once
  autoTitle(session.id, text);
}

/** A session without a title gets its first message's first line (the server keeps none). */
async function autoTitle(id, text) {
  const line = text.trim().split("\n")[0].replace(/\s+/g, " ");
  const title = line.length > 60 ? line.slice(0, 59) + "…" : line;
  if (!title) return;
  try {
    const session = await api.patch(sessionPath(id), { title });
    if (id === state.id) showSession({ ...state.session, ...session });
    sidebar.refresh();
  } catch { /* a title is a nicety */ }
}

/** The active session left the list (deleted elsewhere)? Then it is gone for this page too. */
async function checkActiveExists() {
  const id = state.id;
  if (!id || $("#session-search").value.trim() || sidebar.sessions.some((s) => s.id === id)) return;
  try {
    await api.get(sessionPath(id, "usage"));
  } catch (error) {
    if (error.status === 404 && id === state.id) onStreamState("gone");
  }
}

function onStreamState(streamState) {
  document.body.classList.toggle("reconnecting", streamState === "reconnecting");
  if (streamState === "gone") {
    toast("This session was deleted.", "error");
    newDraft();
    sidebar.refresh();
  }
}

// ------------------------------------------------------------ settings

async function changeProfile(profile) {
  if (!state.id) return; // a draft: the new session will use it
  const { provider, model, working_dir } = state.session || {};
  try {
    await createSession({ profile, provider, model, working_dir });
    toast(`New session with profile “${profile}”`);
  } catch (error) {
    toast(error.message, "error");
    toolbar.show(state.session);
  }
}

async function changeModel(value, choice) {
  if (!state.id) return;
  const model = choice.provider && choice.provider !== state.session?.provider && value === choice.model
    ? `${choice.provider}/${choice.model}` : value;
  try {
    const session = await api.put(sessionPath(state.id, "model"), { model });
    showSession({ ...state.session, ...session });
    toast(`Model: ${session.provider}/${session.model} (from the next turn)`);
  } catch (error) {
    toast(error.message, "error");
    toolbar.show(state.session);
  }
}

async function compact() {
  $("#export-menu").open = false;
  if (!state.id) return;
  try {
    const result = await api.post(sessionPath(state.id, "compact"));
    toast(result.removed_messages
      ? `Compacted: ${result.removed_messages} messages summarized (${result.tokens_before} → ${result.tokens_after} tokens)`
      : "Nothing to compact yet");
  } catch (error) {
    toast(error.status === 409 ? "Wait for the turn to finish." : error.message, "error");
  }
}

async function changeWorkdir(path) {
  if (!path) throw new ApiError(400, "Give a folder");
  const id = await ensureSession();
  const session = await api.put(sessionPath(id, "workdir"), { path });
  showSession({ ...state.session, ...session });
  panel.sessionChanged();
  toast(`Working directory: ${session.working_dir}`);
}

// ------------------------------------------------------------ start

async function start() {
  setupTheme();
  setupLogin();
  $("#compact").addEventListener("click", compact);
  $("#scroll-down").addEventListener("click", () => conversation.scrollToBottom());
  try {
    await toolbar.load();
  } catch (error) {
    if (error.status !== 401) toast(error.message, "error");
    return;
  }
  sidebar.refresh();
  const id = hashSession();
  if (id) await openSession(id);
  else newDraft();
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || document.querySelector("dialog[open]")) return;
    if (document.body.classList.contains("drawer-open")) sidebar.closeDrawer();
    else if (panel.isOpen) panel.close();
  });
  // other tabs and programs start turns too: keep the list's running marks fresh
  setInterval(() => { if (!document.hidden) sidebar.refresh().then(checkActiveExists); }, 15000);
  window.addEventListener("hashchange", () => {
    const next = hashSession();
    if (next && next !== state.id) openSession(next);
  });
}

start();
