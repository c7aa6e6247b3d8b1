// The transcript view: stored messages and live events rendered the same way.
// Runs form a tree (run_id / parent_run_id); each run has a container its text segments,
// tool calls and sub-agent nodes go into. Tool calls are keyed by run and call id.

import { renderInto, renderMarkdown, copyText } from "./markdown.js";
import {
  el, spinner, toolCallElement, finishToolCall, abandonToolCall, agentNode, finishAgent,
  setAgentTokens, formatTokens, icon,
} from "./tree.js";

export class Conversation {
  constructor(root, { onUsage, uploadUrl } = {}) {
    this.root = root;
    this.onUsage = onUsage || (() => {});
    this.uploadUrl = uploadUrl || (() => "");
    this.runs = new Map();
    this.tools = new Map();
    this.dirty = new Set();
    this.frame = 0;
    this.turn = null;
    this.rootRunId = null;
    this.stick = true;
    /** the session's uploads (GET …/uploads), to show stored attachments as on the live page */
    this.uploads = [];
    this.scroller = root.closest(".scroller") || root;
    this.scroller.addEventListener("scroll", () => {
      this.stick = this.nearBottom();
      document.body.classList.toggle("scrolled-up", !this.stick);
    }, { passive: true });
  }

  clear() {
    this.root.replaceChildren();
    this.runs.clear();
    this.tools.clear();
    this.dirty.clear();
    this.turn = null;
    this.rootRunId = null;
    this.stick = true;
  }

  // ------------------------------------------------------------ structure

  addUser(text, attachments = [], images = []) {
    this.endTurn();
    const msg = el("div", "msg user");
    const bubble = el("div", "bubble");
    if (attachments.length || images.length) bubble.append(this.attachmentList(attachments, images));
    if (text) bubble.append(el("div", "user-text", text));
    msg.append(bubble);
    this.root.append(msg);
    return msg;
  }

  attachmentList(attachments, images) {
    const list = el("div", "msg-attachments");
    for (const item of attachments) {
      if (item.kind === "image" && item.id) {
        const img = el("img", "thumb");
        img.src = this.uploadUrl(item.id);
        img.alt = item.name || "image";
        img.loading = "lazy";
        list.append(img);
      } else {
        const chip = el("span", "chip");
        chip.append(icon("file", 14), el("span", "chip-name", item.name || item.id));
        list.append(chip);
      }
    }
    for (const src of images) {
      const img = el("img", "thumb");
      img.src = src;
      img.alt = "image";
      list.append(img);
    }
    return list;
  }

  /** The assistant message of the current turn (created on demand). */
  ensureTurn() {
    if (this.turn) return this.turn;
    const msg = el("div", "msg assistant");
    const body = el("div", "assistant-body");
    const pending = el("div", "pending");
    pending.append(spinner(), el("span", null, "Thinking…"));
    msg.append(body);
    this.root.append(msg);
    this.turn = { msg, body, pending, tokens: "" };
    return this.turn;
  }

  endTurn() {
    if (!this.turn) return;
    this.turn.pending.remove();
    this.addFooter(this.turn);
    this.turn = null;
    this.rootRunId = null;
  }

  /** Under a finished answer: copy its text (the top-level agent's), tokens when known. */
  addFooter(turn) {
    const texts = [...turn.body.children].filter((c) => c.classList.contains("md")).map((c) => c.dataset.source || "");
    const text = texts.filter(Boolean).join("\n\n");
    if (!text && !turn.tokens) return;
    const footer = el("div", "msg-footer");
    if (turn.tokens) footer.append(el("span", "turn-tokens", turn.tokens));
    if (text) {
      const copy = el("button", "copy-answer", "Copy");
      copy.type = "button";
      copy.title = "Copy the answer as Markdown";
      copy.addEventListener("click", () => copyText(text, copy));
      footer.append(copy);
    }
    turn.msg.append(footer);
  }

  showPending(on) {
    const turn = this.ensureTurn();
    if (on) turn.msg.append(turn.pending);
    else turn.pending.remove();
  }

  newRun(runId, container, node = null) {
    const run = { id: runId, container, node, segment: null, sinceMessage: "", input: 0,
      output: 0, hasText: false };
    this.runs.set(runId, run);
    return run;
  }

  /** The run an event belongs to, created when first seen. */
  runOf(event) {
    const id = event.run_id || this.rootRunId || "root";
    let run = this.runs.get(id);
    if (run) return run;
    if (!event.parent_run_id || !this.runs.has(event.parent_run_id) && !this.rootRunId) {
      const turn = this.ensureTurn();
      run = this.newRun(id, turn.body);
      if (!this.rootRunId) this.rootRunId = id;
      return run;
    }
    const parent = this.runs.get(event.parent_run_id) || this.runs.get(this.rootRunId);
    return this.childRun(parent, id, event.agent_name || leaf(event.agent), "");
  }

  childRun(parent, runId, name, task) {
    this.closeSegment(parent);
    const { node, content } = agentNode({ name, runId, task });
    parent.container.append(node);
    return this.newRun(runId, content, node);
  }

  // ------------------------------------------------------------ text

  appendText(run, text) {
    if (!text) return;
    if (!run.segment) {
      const div = el("div", "md");
      run.container.append(div);
      run.segment = { el: div, text: "", stable: 0, kept: 0 };
    }
    run.segment.text += text;
    run.segment.el.dataset.source = run.segment.text;
    run.sinceMessage += text;
    run.hasText = true;
    this.markDirty(run.segment);
  }

  markDirty(segment) {
    this.dirty.add(segment);
    segment.el.classList.add("streaming");
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    for (const seg of this.dirty) {
      renderSegment(seg);
      if (seg.closed) seg.el.classList.remove("streaming");
    }
    this.dirty.clear();
    if (this.stick) this.scrollToBottom();
  }

  closeSegment(run) {
    if (run.segment) {
      run.segment.closed = true;
      this.markDirty(run.segment); // the final render is a whole one
      run.segment.el.classList.remove("streaming");
      if (!run.segment.text) run.segment.el.remove();
    }
    run.segment = null;
  }

  discard(run, text) {
    const seg = run.segment;
    if (!seg) return;
    seg.text = seg.text.endsWith(text) ? seg.text.slice(0, seg.text.length - text.length) : "";
    seg.stable = 0;
    seg.el.dataset.source = seg.text;
    run.sinceMessage = run.sinceMessage.endsWith(text)
      ? run.sinceMessage.slice(0, run.sinceMessage.length - text.length) : "";
    this.markDirty(seg);
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.stick = true;
    document.body.classList.remove("scrolled-up");
  }

  note(run, text, kind = "info") {
    if (run) this.closeSegment(run);
    const box = el("div", `note note-${kind}`, text);
    (run ? run.container : this.ensureTurn().body).append(box);
    return box;
  }

  // ------------------------------------------------------------ tool calls

  startTool(run, call) {
    this.closeSegment(run);
    const key = `${run.id}:${call.call_id}`;
    const box = toolCallElement(call);
    run.container.append(box);
    this.tools.set(key, box);
    return box;
  }

  finishTool(run, result) {
    const key = `${run.id}:${result.call_id}`;
    let box = this.tools.get(key);
    if (!box) box = this.startTool(run, { call_id: result.call_id, name: result.name, arguments: {} });
    finishToolCall(box, result);
  }

  // ------------------------------------------------------------ live events

  /** Render one event of the stream. */
  handle(event) {
    const handler = HANDLERS[event.type];
    if (handler) handler.call(this, event);
    if (this.turn && event.type !== "turn_finished" && event.type !== "usage") {
      const pendingNeeded = !this.turn.body.childElementCount;
      this.showPending(pendingNeeded);
    }
    if (this.stick && !this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  finishTurn(status) {
    for (const box of this.root.querySelectorAll('.tool-call[data-status="running"]')) {
      abandonToolCall(box, status === "cancelled" ? "stopped" : "no result");
    }
    for (const node of this.root.querySelectorAll('.agent-node[data-status="running"]')) {
      finishAgent(node, status === "cancelled" ? "cancelled" : status === "completed" ? "completed" : "error", "", false);
    }
    for (const run of this.runs.values()) this.closeSegment(run);
    this.flush();
    const turn = this.turn;
    if (turn && !turn.body.childElementCount) {
      turn.body.append(el("div", "note note-info", status === "cancelled" ? "Stopped." : "No answer."));
    } else if (turn && status === "cancelled") {
      turn.body.append(el("div", "note note-info", "Stopped."));
    }
    this.endTurn();
    this.runs.clear();
  }

  // ------------------------------------------------------------ stored messages

  /**
   * Render stored MessageViews. With `?all=1` sub-agents' messages come too: their `agent`
   * path (`lead > coder`) and `run_id` rebuild the tree (a node under the latest run of the
   * parent path).
   */
  renderHistory(messages) {
    const pendingCalls = [];
    this.paths = new Map();
    for (const view of messages) {
      const message = view.message || {};
      const role = message.role || view.role;
      const parts = message.parts || [];
      const path = view.agent || "";
      if (path.includes(" > ")) this.historyChild(view, path, role, parts, pendingCalls);
      else if (role === "user") this.historyUser(parts);
      else if (role === "assistant") this.historyAssistant(this.historyRoot(), parts, pendingCalls);
      else if (role === "tool") this.historyTool(this.historyRoot(), parts);
    }
    for (const run of this.runs.values()) {
      this.closeSegment(run);
      if (run.node && run.node.dataset.status === "running") finishAgent(run.node, "completed", "", false);
    }
    this.flush();
    for (const box of pendingCalls) abandonToolCall(box, "no result");
    this.endTurn();
    this.runs.clear();
  }

  historyUser(parts) {
    const text = parts.filter((p) => p.type === "text").map((p) => p.text).join("\n");
    const images = parts.filter((p) => p.type === "image" && p.data)
      .map((p) => `data:${p.media_type || "image/png"};base64,${p.data}`);
    for (const run of this.runs.values()) this.closeSegment(run);
    this.runs.clear();
    this.paths.clear();
    const { said, files } = splitAttachments(text);
    const known = files.map((file) => this.uploads.find((u) => u.name === file.name) || file);
    // the uploaded images named in the text are also the first image parts: shown once
    const uploaded = files.filter((file) => file.kind === "image").length;
    this.addUser(said, known, images.slice(uploaded));
  }

  historyRoot() {
    this.ensureTurn();
    let run = this.runs.get("history");
    if (!run) {
      run = this.newRun("history", this.turn.body);
      this.rootRunId = "history";
      this.paths.set("", run);
    }
    return run;
  }

  historyChild(view, path, role, parts, pendingCalls) {
    const id = view.run_id || `history:${path}`;
    let run = this.runs.get(id);
    if (!run) {
      const parentPath = path.slice(0, path.lastIndexOf(" > "));
      const parent = this.paths.get(parentPath) || this.historyRoot();
      const task = role === "user" ? textOf(view.message) : "";
      run = this.childRun(parent, id, leaf(path), task);
      this.paths.set(path, run);
      if (role === "user") return;
    }
    if (role === "assistant") this.historyAssistant(run, parts, pendingCalls);
    else if (role === "tool") this.historyTool(run, parts);
  }

  historyAssistant(run, parts, pendingCalls) {
    for (const part of parts) {
      if (part.type === "text") {
        this.appendText(run, part.text);
      } else if (part.type === "tool_call") {
        const box = this.startTool(run, { call_id: part.id, name: part.name, arguments: part.arguments });
        pendingCalls.push(box);
      }
    }
  }

  historyTool(run, parts) {
    for (const part of parts) {
      if (part.type !== "tool_result") continue;
      this.finishTool(run, { call_id: part.call_id ?? part.tool_call_id, name: part.name,
        result: part.content, is_error: part.is_error });
    }
  }
}

const INCREMENTAL_FROM = 3000;

/**
 * Render a segment's Markdown. A long one that is still streaming keeps the blocks before
 * its last blank line (outside a code fence) and re-renders only what follows; the final
 * render (closed) is a whole one.
 */
function renderSegment(seg) {
  if (seg.closed || seg.text.length < INCREMENTAL_FROM) {
    renderInto(seg.el, seg.text);
    seg.stable = 0;
    return;
  }
  if (!seg.stable) { seg.el.replaceChildren(); seg.kept = 0; }
  const cut = stableCut(seg.text, seg.stable);
  if (cut > seg.stable) {
    while (seg.el.childNodes.length > seg.kept) seg.el.lastChild.remove();
    seg.el.append(renderMarkdown(seg.text.slice(seg.stable, cut)));
    seg.kept = seg.el.childNodes.length;
    seg.stable = cut;
  }
  while (seg.el.childNodes.length > seg.kept) seg.el.lastChild.remove();
  seg.el.append(renderMarkdown(seg.text.slice(seg.stable)));
}

/** The offset after the last blank line at or after `from` that is outside a code fence. */
function stableCut(text, from) {
  let cut = from;
  let fence = null;
  let pos = from;
  while (pos < text.length) {
    const end = text.indexOf("\n", pos);
    if (end < 0) break;
    const line = text.slice(pos, end);
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (marker && (!fence || marker[1].startsWith(fence))) fence = fence ? null : marker[1];
    else if (!fence && !line.trim()) cut = end + 1;
    pos = end + 1;
  }
  return cut;
}

function leaf(path) {
  const parts = String(path || "agent").split(" > ");
  return parts[parts.length - 1];
}

// How the server puts attachments into the stored task (moco/web/uploads.py):
// "\n\nAttached file NAME:\n```\n…\n```" and "\n\n[The user attached NAME (TYPE, N bytes).]"
// (before images reached the model: "…, N bytes); its contents cannot be shown to you yet.]")
const ATTACHED = /\n\n(?:Attached file ([^\n]+):\n```\n[\s\S]*?\n```|\[The user attached (.+?) \(([\w.+-]+\/[\w.+-]+), [\d,]+ bytes\)(?:; its contents cannot be shown to you yet)?\.\])(?=\n\n|$)/g;

/** The person's own words and the attachments the server appended to them. */
export function splitAttachments(text) {
  const files = [];
  const first = text.search(ATTACHED);
  if (first < 0) return { said: text, files };
  for (const m of text.slice(first).matchAll(ATTACHED)) {
    if (m[1]) files.push({ name: m[1], kind: "text" });
    else files.push({ name: m[2], kind: m[3].startsWith("image/") ? "image" : "document" });
  }
  return { said: text.slice(0, first), files };
}

function textOf(message) {
  return (message?.parts || []).filter((p) => p.type === "text").map((p) => p.text).join("");
}

const HANDLERS = {
  turn_started(ev) {
    this.stick = true;
    this.addUser(ev.text, ev.attachments || []);
    this.ensureTurn();
    this.showPending(true);
  },
  run_started(ev) {
    const run = this.runOf(ev);
    if (run.node && ev.task && !run.node.querySelector(".an-task-full")) {
      run.node.querySelector(".an-task").textContent = ev.task.slice(0, 70);
    }
  },
  text_delta(ev) { this.appendText(this.runOf(ev), ev.text); },
  attempt_discarded(ev) {
    const run = this.runOf(ev);
    this.discard(run, ev.text || "");
  },
  message(ev) {
    const run = this.runOf(ev);
    const msg = ev.message || {};
    if (msg.role === "assistant") {
      const text = textOf(msg);
      if (!run.sinceMessage && text) this.appendText(run, text);
      run.sinceMessage = "";
    }
  },
  tool_call_started(ev) { this.startTool(this.runOf(ev), ev); },
  tool_call_finished(ev) { this.finishTool(this.runOf(ev), ev); },
  agent_delegated(ev) {
    const parent = this.runOf(ev);
    const id = ev.child_run_id || `${parent.id}>${ev.child}`;
    const known = this.runs.get(id);
    if (!known) this.childRun(parent, id, leaf(ev.child), ev.task);
    else if (known.node && ev.task) known.node.querySelector(".an-task").textContent = ev.task.slice(0, 70);
  },
  agent_returned(ev) {
    const id = ev.child_run_id || `${this.runOf(ev).id}>${ev.child}`;
    const run = this.runs.get(id);
    if (!run || !run.node) return;
    this.closeSegment(run);
    finishAgent(run.node, ev.status || "completed", ev.output, !run.hasText);
  },
  usage(ev) {
    const run = this.runOf(ev);
    run.input += ev.input_tokens || 0;
    run.output += ev.output_tokens || 0;
    if (run.node) setAgentTokens(run.node, run.input, run.output);
    this.onUsage(ev);
  },
  context_compressed(ev) {
    this.note(this.runOf(ev), `Context compressed: ${ev.removed_messages} older messages ` +
      `summarized (${formatTokens(ev.tokens_before)} → ${formatTokens(ev.tokens_after)} tokens).`);
  },
  agents_selected(ev) {
    const names = (ev.agents || []).join(", ") || "none";
    this.note(this.runOf(ev), `Agents offered: ${names}` + (ev.reason ? ` — ${ev.reason}` : ""));
  },
  warning(ev) { this.note(this.runOf(ev), ev.message, "warning"); },
  error(ev) {
    const run = ev.run_id ? this.runOf(ev) : null;
    if (run) run.failed = true;
    this.note(run, ev.message || "error", "error");
  },
  run_finished(ev) {
    const run = this.runOf(ev);
    this.closeSegment(run);
    if (run.node) {
      if (run.node.dataset.status === "running") finishAgent(run.node, ev.status, ev.output, !run.hasText);
    } else {
      if (!run.hasText && ev.output) this.appendText(run, ev.output);
      this.closeSegment(run);
      if (this.turn && (ev.input_tokens || ev.output_tokens)) {
        this.turn.tokens = `${formatTokens(ev.input_tokens)} in · ${formatTokens(ev.output_tokens)} out` +
          (ev.turns > 1 ? ` · ${ev.turns} model calls` : "");
      }
      if (ev.status && !["completed", "cancelled"].includes(ev.status) && !(run.failed && ev.status === "error")) {
        this.note(run, `The run ended: ${ev.status.replace("_", " ")}.`, "warning");
      }
    }
  },
  turn_finished(ev) { this.finishTurn(ev.status); },
};
