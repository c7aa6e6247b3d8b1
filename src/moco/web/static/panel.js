// The side panel: a read-only file browser, checkpoints, usage per agent.

import { api, sessionPath, withQuery } from "./api.js";
import { codeBlock } from "./markdown.js";
import { el, formatTokens, icon } from "./tree.js";
import { $, formatBytes, relativeTime, toast } from "./ui.js";


export class Panel {
  constructor({ getSessionId, ensureSession, onRestored }) {
    this.getSessionId = getSessionId;
    this.ensureSession = ensureSession;
    this.onRestored = onRestored;
    this.box = $("#panel");
    this.tab = "files";
    this.dir = "";
    for (const button of this.box.querySelectorAll(".tab")) {
      button.addEventListener("click", () => this.show(button.dataset.tab));
    }
    $("#panel-close").addEventListener("click", () => this.close());
    $("#open-files").addEventListener("click", () => this.toggle("files"));
    $("#open-checkpoints").addEventListener("click", () => this.toggle("checkpoints"));
    $("#file-back").addEventListener("click", () => this.closeFile());
    $("#checkpoint-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveCheckpoint();
    });
  }

  get isOpen() { return !this.box.hidden; }

  toggle(tab) {
    if (this.isOpen && this.tab === tab) this.close();
    else this.show(tab);
  }

  show(tab) {
    this.tab = tab;
    this.box.hidden = false;
    document.body.classList.add("panel-open");
    for (const button of this.box.querySelectorAll(".tab")) {
      button.classList.toggle("active", button.dataset.tab === tab);
      button.setAttribute("aria-selected", String(button.dataset.tab === tab));
    }
    for (const view of this.box.querySelectorAll(".panel-view")) view.hidden = view.dataset.view !== tab;
    this.reload();
  }

  close() {
    this.box.hidden = true;
    document.body.classList.remove("panel-open");
  }

  /** The session changed (or its working directory did). */
  sessionChanged() {
    this.dir = "";
    this.closeFile();
    if (!this.isOpen) return;
    if (this.getSessionId()) this.reload();
    else this.close(); // a draft has no folder of its own yet
  }

  async reload() {
    try {
      await this.ensureSession();
    } catch (error) {
      toast(error.message, "error");
      return;
    }
    if (this.tab === "files") this.loadDir(this.dir);
    else if (this.tab === "checkpoints") this.loadCheckpoints();
    else this.loadUsage();
  }

  // ------------------------------------------------------------ files

  async loadDir(path) {
    const list = $("#files-list");
    let answer;
    try {
      answer = await api.get(withQuery(sessionPath(this.getSessionId(), "files"), { path }));
    } catch (error) {
      list.replaceChildren(el("li", "muted", error.message));
      return;
    }
    this.dir = answer.path && answer.path !== "." ? answer.path : "";
    this.crumbs();
    list.replaceChildren();
    const entries = [...(answer.entries || [])].sort((a, b) =>
      (a.type === b.type ? 0 : a.type === "dir" ? -1 : 1) || a.name.localeCompare(b.name));
    if (this.dir) list.append(this.entry({ name: "..", type: "dir" }, parentOf(this.dir)));
    for (const entry of entries) list.append(this.entry(entry, join(this.dir, entry.name)));
    if (!entries.length) list.append(el("li", "muted file-empty", "Empty folder"));
  }

  entry(entry, path) {
    const li = el("li", `file-entry file-${entry.type}`);
    const button = el("button", "file-open");
    button.type = "button";
    button.dataset.path = path;
    const glyph = el("span", "file-icon");
    glyph.append(icon(entry.type === "dir" ? "folder" : "file", 15));
    button.append(glyph,
      el("span", "file-name", entry.name),
      el("span", "file-size muted", entry.type === "file" ? formatBytes(entry.size) : ""));
    button.addEventListener("click", () => entry.type === "dir" ? this.loadDir(path) : this.openFile(path));
    li.append(button);
    return li;
  }

  crumbs() {
    const box = $("#files-crumbs");
    box.replaceChildren();
    const root = el("button", "crumb", "⌂");
    root.type = "button";
    root.title = "Working directory";
    root.addEventListener("click", () => this.loadDir(""));
    box.append(root);
    let path = "";
    for (const part of this.dir.split("/").filter(Boolean)) {
      path = join(path, part);
      const target = path;
      const crumb = el("button", "crumb", part);
      crumb.type = "button";
      crumb.addEventListener("click", () => this.loadDir(target));
      box.append(el("span", "crumb-sep", "/"), crumb);
    }
  }

  async openFile(path) {
    let file;
    try {
      file = await api.get(withQuery(sessionPath(this.getSessionId(), "file"), { path }));
    } catch (error) {
      toast(error.message, "error");
      return;
    }
    $("#file-name").textContent = file.path || path;
    const content = $("#file-content");
    if (file.binary || file.text === null || file.text === undefined) {
      content.replaceChildren(el("p", "muted", `Binary file, ${formatBytes(file.size)}.`));
    } else {
      const ext = path.includes(".") ? path.split(".").pop().toLowerCase() : "";
      content.replaceChildren(codeBlock(file.text, ext));
      if (file.truncated) content.append(el("p", "muted", `Only the first part of ${formatBytes(file.size)} is shown.`));
    }
    $("#files-list").hidden = true;
    $("#files-crumbs").hidden = true;
    $("#file-view").hidden = false;
  }

  closeFile() {
    $("#file-view").hidden = true;
    $("#files-list").hidden = false;
    $("#files-crumbs").hidden = false;
  }

  // ------------------------------------------------------------ checkpoints

  async loadCheckpoints() {
    const list = $("#checkpoint-list");
    let checkpoints;
    try {
      checkpoints = await api.get(sessionPath(this.getSessionId(), "checkpoints"));
    } catch (error) {
      list.replaceChildren(el("li", "muted", error.message));
      return;
    }
    list.replaceChildren();
    if (!checkpoints.length) list.append(el("li", "muted", "No checkpoints yet. Save one to return to this point later."));
    for (const cp of [...checkpoints].reverse()) list.append(this.checkpoint(cp));
  }

  checkpoint(cp) {
    const li = el("li", "checkpoint-item");
    li.dataset.name = cp.name;
    const info = el("div", "checkpoint-info");
    const files = Array.isArray(cp.files) ? cp.files.length : cp.files;
    info.append(el("span", "checkpoint-name", cp.name),
      el("span", "muted", `${relativeTime(cp.created_at)} · ${files ?? 0} files · ${cp.model || ""}`));
    const restore = el("button", "btn checkpoint-restore", "Restore");
    restore.type = "button";
    restore.addEventListener("click", () => this.restore(cp.name));
    li.append(info, restore);
    return li;
  }

  async saveCheckpoint() {
    const input = $("#checkpoint-name");
    const body = input.value.trim() ? { name: input.value.trim() } : {};
    try {
      const cp = await api.post(sessionPath(this.getSessionId(), "checkpoints"), body);
      toast(`Checkpoint “${cp.name}” saved`);
      input.value = "";
    } catch (error) {
      toast(error.message, "error");
    }
    this.loadCheckpoints();
  }

  async restore(name) {
    if (!confirm(`Restore checkpoint “${name}”? Later messages and file changes are undone.`)) return;
    try {
      const result = await api.post(sessionPath(this.getSessionId(), "checkpoints", name, "restore"));
      const skipped = (result.skipped || []).length;
      toast(`Restored “${name}”: ${(result.restored || []).length} files restored, ` +
        `${(result.removed || []).length} removed, ${result.messages_dropped || 0} messages dropped` +
        (skipped ? `, ${skipped} skipped` : ""));
      this.onRestored?.();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  // ------------------------------------------------------------ usage

  async loadUsage() {
    const box = $("#usage-detail");
    let usage;
    try {
      usage = await api.get(sessionPath(this.getSessionId(), "usage"));
    } catch (error) {
      box.replaceChildren(el("p", "muted", error.message));
      return;
    }
    const table = el("table", "usage-table");
    const head = el("tr");
    for (const h of ["Agent", "Runs", "In", "Out"]) head.append(el("th", null, h));
    table.append(head);
    for (const a of usage.agents || []) {
      const row = el("tr");
      row.append(el("td", null, a.agent), el("td", null, String(a.runs ?? "")),
        el("td", null, formatTokens(a.input_tokens)), el("td", null, formatTokens(a.output_tokens)));
      table.append(row);
    }
    const total = el("p", "usage-total",
      `${formatTokens(usage.input_tokens)} input · ${formatTokens(usage.output_tokens)} output tokens` +
      (usage.cost_usd !== null && usage.cost_usd !== undefined ? ` · $${Number(usage.cost_usd).toFixed(4)}` : ""));
    box.replaceChildren(total, table);
  }
}

function join(dir, name) {
  return dir ? `${dir}/${name}` : name;
}

function parentOf(path) {
  const parts = path.split("/").filter(Boolean);
  parts.pop();
  return parts.join("/");
}
