// Permission asks: a modal <dialog id="permission-dialog">, one ask at a time (a queue).

import { api, sessionPath } from "./api.js";
import { el } from "./tree.js";

export class PermissionAsks {
  constructor(dialog, { getSessionId, onError }) {
    this.dialog = dialog;
    this.getSessionId = getSessionId;
    this.onError = onError || (() => {});
    this.queue = [];
    this.current = null;
    this.byId = (id) => dialog.querySelector(id);
    this.byId("#perm-once").addEventListener("click", () => this.answer("once"));
    this.byId("#perm-always").addEventListener("click", () => this.answer("always"));
    this.byId("#perm-deny").addEventListener("click", () => this.answer("deny"));
    this.byId("#perm-reason").addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); this.answer("deny"); }
    });
    // Escape would close the dialog without an answer: keep it open, the ask still waits
    dialog.addEventListener("cancel", (event) => event.preventDefault());
  }

  /** Replace the queue (on load: GET /api/sessions/{id}'s pending_permissions). */
  reset(asks) {
    this.queue = [...(asks || [])];
    this.current = null;
    this.showNext();
  }

  add(ask) {
    if (this.queue.some((a) => a.ask_id === ask.ask_id)) return;
    this.queue.push(ask);
    if (!this.current) this.showNext();
  }

  resolved(askId) {
    this.queue = this.queue.filter((a) => a.ask_id !== askId);
    if (this.current && this.current.ask_id === askId) {
      this.current = null;
      this.showNext();
    }
  }

  clear() {
    this.queue = [];
    this.current = null;
    if (this.dialog.open) this.dialog.close();
  }

  showNext() {
    const ask = this.queue[0];
    if (!ask) {
      if (this.dialog.open) this.dialog.close();
      return;
    }
    this.current = ask;
    this.fill(ask);
    if (!this.dialog.open) this.dialog.showModal();
  }

  fill(ask) {
    this.byId("#perm-agent").textContent = ask.agent || "an agent";
    this.byId("#perm-tool").textContent = ask.tool || "a tool";
    const rule = this.byId("#perm-rule");
    rule.textContent = ask.rule || "";
    rule.parentElement.hidden = !ask.rule;
    this.byId("#perm-description").replaceChildren(describe(ask));
    const always = this.byId("#perm-always");
    always.textContent = ask.always ? `Always: ${ask.always}` : "Always for this session";
    always.title = ask.always || "";
    this.byId("#perm-reason").value = "";
    this.byId("#perm-count").textContent = this.queue.length > 1 ? `1 of ${this.queue.length}` : "";
    this.setBusy(false);
  }

  setBusy(busy) {
    for (const id of ["#perm-once", "#perm-always", "#perm-deny"]) this.byId(id).disabled = busy;
  }

  async answer(choice) {
    const ask = this.current;
    if (!ask) return;
    const body = { choice };
    const reason = this.byId("#perm-reason").value.trim();
    if (choice === "deny" && reason) body.message = reason;
    this.setBusy(true);
    try {
      await api.post(sessionPath(this.getSessionId(), "permissions", ask.ask_id), body);
    } catch (error) {
      if (error.status !== 404) {
        this.setBusy(false);
        this.onError(error.message);
        return;
      }
    }
    this.resolved(ask.ask_id);
  }
}

/** The ask's description: a command in monospace, a coloured diff, or the call's arguments. */
function describe(ask) {
  const text = ask.description || "";
  if (ask.kind === "command") return el("pre", "perm-command", text);
  if (ask.kind === "diff") return diffView(text);
  const box = el("div", "perm-call");
  const hasArguments = ask.arguments && Object.keys(ask.arguments).length > 0;
  // a call's description is the tool and its arguments on one line: the arguments, laid out,
  // say the same more readably
  if (text && !hasArguments) box.append(el("p", null, text));
  if (hasArguments) {
    box.append(el("pre", "perm-args", JSON.stringify(ask.arguments, null, 2)));
  }
  return box;
}

function diffView(text) {
  const pre = el("pre", "perm-diff");
  for (const line of text.split("\n")) {
    let cls = "diff-line";
    if (line.startsWith("+++") || line.startsWith("---")) cls += " diff-file";
    else if (line.startsWith("+")) cls += " diff-add";
    else if (line.startsWith("-")) cls += " diff-del";
    else if (line.startsWith("@@")) cls += " diff-hunk";
    pre.append(el("span", cls, line + "\n"));
  }
  return pre;
}
