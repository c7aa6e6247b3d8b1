// Tool-call elements and sub-agent nodes: collapsible <details> built from DOM nodes only.

import { renderMarkdown } from "./markdown.js";
import { highlight } from "./highlight.js";

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

const ICONS = {
  trash: "M4 7h16M10 11v6M14 11v6M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12M9 7V4h6v3",
  pencil: "M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4",
  file: "M6 3h8l4 4v14H6zM14 3v4h4",
  folder: "M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z",
  image: "M4 5h16v14H4zM4 16l5-5 4 4 3-3 4 4M15 9h.01",
};

/** A small stroked SVG icon (ICONS names). */
export function icon(name, size = 16) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", size);
  svg.setAttribute("height", size);
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("icon");
  const path = document.createElementNS(NS, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.8");
  path.setAttribute("stroke-linecap", "round");
  path.setAttribute("stroke-linejoin", "round");
  svg.append(path);
  return svg;
}

export function spinner() {
  return el("span", "spinner");
}

/** Human-readable token counts: 950, 12.3k, 1.2M */
export function formatTokens(n) {
  n = Number(n) || 0;
  if (n < 1000) return String(n);
  if (n < 1e6) return (n / 1000).toFixed(n < 10000 ? 1 : 0).replace(/\.0$/, "") + "k";
  return (n / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
}

export function formatDuration(ms) {
  ms = Number(ms) || 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function oneLine(text, max = 90) {
  const s = String(text).replace(/\s+/g, " ").trim();
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

const SUMMARY_KEYS = ["command", "cmd", "path", "file_path", "file", "pattern", "query", "url",
  "agent_name", "agent", "task", "name", "text", "content"];

/** A one-line summary of a tool call's arguments. */
export function argsSummary(args) {
  if (!args || typeof args !== "object") return "";
  for (const key of SUMMARY_KEYS) {
    const value = args[key];
    if (typeof value === "string" && value.trim()) return oneLine(value);
  }
  const first = Object.values(args).find((v) => typeof v === "string" || typeof v === "number");
  if (first !== undefined) return oneLine(first);
  const json = JSON.stringify(args);
  return json === "{}" ? "" : oneLine(json);
}

function prettyJson(value) {
  try { return JSON.stringify(value, null, 2); } catch { return String(value); }
}

function section(title, body) {
  const box = el("div", "tc-section");
  box.append(el("div", "tc-label", title), body);
  return box;
}

const LONG_LINES = 18;
const LONG_CHARS = 1800;

/** A <pre> that is clamped with a "Show all" button when long. */
export function longText(text, className) {
  const wrap = el("div", "long-text");
  const pre = el("pre", className);
  pre.textContent = text;
  wrap.append(pre);
  const lines = text.split("\n").length;
  if (lines > LONG_LINES || text.length > LONG_CHARS) {
    wrap.classList.add("clamped");
    const more = el("button", "show-all", `Show all (${lines} lines)`);
    more.type = "button";
    more.addEventListener("click", () => {
      const clamped = wrap.classList.toggle("clamped");
      more.textContent = clamped ? `Show all (${lines} lines)` : "Show less";
    });
    wrap.append(more);
  }
  return wrap;
}

/** A collapsible tool call: <details class="tool-call" data-tool data-status>. */
export function toolCallElement({ call_id, name, arguments: args }) {
  const box = el("details", "tool-call");
  box.dataset.tool = name || "tool";
  box.dataset.status = "running";
  if (call_id) box.dataset.callId = call_id;
  const summary = el("summary");
  const icon = el("span", "tc-icon");
  icon.append(spinner());
  summary.append(icon, el("span", "tc-name", name || "tool"),
    el("span", "tc-args", argsSummary(args)), el("span", "tc-duration"));
  const body = el("div", "tc-body");
  const argsPre = el("pre", "tc-arguments");
  argsPre.append(highlight(prettyJson(args || {}), "json"));
  body.append(section("Arguments", argsPre));
  box.append(summary, body);
  return box;
}

/** Mark a tool call finished: its result, error styling and duration. */
export function finishToolCall(box, { result, is_error, duration_ms }) {
  box.dataset.status = is_error ? "error" : "done";
  const icon = box.querySelector(".tc-icon");
  icon.replaceChildren(el("span", "tc-mark", is_error ? "✕" : "✓"));
  if (duration_ms) box.querySelector(".tc-duration").textContent = formatDuration(duration_ms);
  const body = box.querySelector(".tc-body");
  body.querySelector(".tc-result")?.remove();
  const text = result === undefined || result === null ? "" : String(result);
  const res = section(is_error ? "Error" : "Result", longText(text || "(empty)", "tc-output"));
  res.classList.add("tc-result");
  body.append(res);
}

/** A tool call that never got its result (the turn ended first). */
export function abandonToolCall(box, reason) {
  if (box.dataset.status !== "running") return;
  box.dataset.status = "error";
  box.querySelector(".tc-icon").replaceChildren(el("span", "tc-mark", "–"));
  box.querySelector(".tc-duration").textContent = reason;
}

const STATUS_LABEL = {
  running: "running", completed: "done", cancelled: "cancelled", error: "error",
  max_turns: "max turns", blocked: "blocked", stopped: "stopped",
};

/** A sub-agent node: <details class="agent-node" data-agent data-status>. */
export function agentNode({ name, runId, task }) {
  const node = el("details", "agent-node");
  node.open = true;
  node.dataset.agent = name;
  node.dataset.status = "running";
  node.dataset.runId = runId;
  const summary = el("summary");
  const icon = el("span", "an-icon");
  icon.append(spinner());
  const taskLine = el("span", "an-task", task ? oneLine(task, 70) : "");
  taskLine.title = task || "";
  summary.append(icon, el("span", "an-name", name), taskLine,
    el("span", "an-tokens"), el("span", "an-status", "running"));
  const body = el("div", "an-body");
  if (task) {
    const taskBox = el("details", "an-task-full");
    taskBox.append(el("summary", null, "Task"));
    const text = el("div", "md");
    text.append(renderMarkdown(task));
    taskBox.append(text);
    body.append(taskBox);
  }
  const content = el("div", "an-content");
  body.append(content);
  node.append(summary, body);
  return { node, content };
}

/** Status values for data-status: running|completed|cancelled|error (others map to error). */
export function nodeStatus(status) {
  if (status === "completed" || status === "cancelled" || status === "running") return status;
  return "error";
}

export function finishAgent(node, status, output, showOutput) {
  node.dataset.status = nodeStatus(status);
  node.dataset.runStatus = status;
  node.querySelector(".an-status").textContent = STATUS_LABEL[status] || status;
  node.querySelector(".an-icon").replaceChildren(
    el("span", "an-mark", status === "completed" ? "✓" : status === "cancelled" ? "■" : "!"));
  if (showOutput && output) {
    const out = el("div", "md an-output");
    out.append(renderMarkdown(output));
    node.querySelector(".an-content").append(out);
  }
}

export function setAgentTokens(node, input, output) {
  const span = node.querySelector(":scope > summary .an-tokens");
  if (span) span.textContent = `${formatTokens(input)} in · ${formatTokens(output)} out`;
}
