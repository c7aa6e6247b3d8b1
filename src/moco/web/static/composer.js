// The message box: Enter sends, Shift+Enter is a newline; attachments by the paperclip,
// drag-and-drop and paste, uploaded at once and shown as chips until the message is sent.

import { request, sessionPath } from "./api.js";
import { el } from "./tree.js";
import { $, formatBytes, toast } from "./ui.js";

export class Composer {
  constructor({ ensureSession, onSend, onStop }) {
    this.ensureSession = ensureSession;
    this.onSend = onSend;
    this.prompt = $("#prompt");
    this.chips = $("#attachments");
    this.uploads = [];
    this.uploading = 0;
    this.running = false;
    $("#composer").addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    $("#stop").addEventListener("click", () => onStop());
    this.prompt.addEventListener("keydown", (event) => this.keydown(event));
    this.prompt.addEventListener("input", () => this.autosize());
    $("#attach").addEventListener("click", () => $("#file-input").click());
    $("#file-input").addEventListener("change", (event) => {
      this.addFiles([...event.target.files]);
      event.target.value = "";
    });
    this.prompt.addEventListener("paste", (event) => this.paste(event));
    this.setupDrop();
  }

  keydown(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.send();
    }
  }

  autosize() {
    this.prompt.style.height = "auto";
    this.prompt.style.height = Math.min(this.prompt.scrollHeight, 240) + "px";
  }

  setRunning(running) {
    this.running = running;
    $("#send").hidden = running;
    $("#stop").hidden = !running;
  }

  focus() { this.prompt.focus(); }

  async send() {
    const text = this.prompt.value;
    if (this.running) { toast("Still answering — wait, or press Stop"); return; }
    if (this.uploading) { toast("Wait for the uploads to finish"); return; }
    if (!text.trim() && !this.uploads.length) return;
    const attachments = this.uploads.map((u) => u.id);
    const ok = await this.onSend(text, attachments);
    if (ok) {
      this.prompt.value = "";
      this.autosize();
      this.clearUploads();
    }
  }

  paste(event) {
    const files = [...(event.clipboardData?.files || [])];
    if (files.length) {
      event.preventDefault();
      this.addFiles(files);
    }
  }

  setupDrop() {
    const zone = $("#drop-zone");
    let depth = 0;
    const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
    document.addEventListener("dragenter", (event) => {
      if (!hasFiles(event)) return;
      depth++;
      zone.hidden = false;
    });
    document.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.hidden = true;
    });
    document.addEventListener("dragover", (event) => { if (hasFiles(event)) event.preventDefault(); });
    document.addEventListener("drop", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth = 0;
      zone.hidden = true;
      this.addFiles([...event.dataTransfer.files]);
    });
  }

  async addFiles(files) {
    if (!files.length) return;
    let sessionId;
    try {
      sessionId = await this.ensureSession();
    } catch (error) {
      toast(error.message, "error");
      return;
    }
    await Promise.all(files.map((file) => this.upload(sessionId, file)));
  }

  async upload(sessionId, file) {
    const chip = this.chip({ name: file.name || "pasted file", size: file.size }, true);
    this.uploading++;
    const form = new FormData();
    form.append("file", file, file.name || "pasted.png");
    try {
      const view = await request("POST", sessionPath(sessionId, "uploads"), form);
      view.sessionId = sessionId;
      this.uploads.push(view);
      this.fillChip(chip, view);
    } catch (error) {
      chip.remove();
      toast(`${file.name}: ${error.status === 413 ? "too large" : error.message}`, "error");
    } finally {
      this.uploading--;
      this.chips.hidden = !this.chips.childElementCount;
    }
  }

  chip(info, pending) {
    const chip = el("div", "chip attachment-chip");
    if (pending) chip.classList.add("uploading");
    chip.append(el("span", "chip-name", info.name), el("span", "chip-size muted", formatBytes(info.size)));
    this.chips.append(chip);
    this.chips.hidden = false;
    return chip;
  }

  fillChip(chip, view) {
    chip.classList.remove("uploading");
    chip.dataset.id = view.id;
    chip.querySelector(".chip-name").textContent = view.name;
    if (view.kind === "image") {
      const img = el("img", "chip-thumb");
      img.alt = view.name;
      img.src = sessionPath(view.sessionId, "uploads", view.id);
      chip.prepend(img);
    }
    const remove = el("button", "chip-remove", "×");
    remove.type = "button";
    remove.title = "Remove";
    remove.setAttribute("aria-label", `Remove ${view.name}`);
    remove.addEventListener("click", () => {
      this.uploads = this.uploads.filter((u) => u.id !== view.id);
      chip.remove();
      this.chips.hidden = !this.chips.childElementCount;
    });
    chip.append(remove);
  }

  /** Uploads belong to a session: switching sessions drops the unsent ones. */
  clearUploads() {
    this.uploads = [];
    this.chips.replaceChildren();
    this.chips.hidden = true;
  }
}
