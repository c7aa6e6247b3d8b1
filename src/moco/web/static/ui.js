// Small UI helpers: toasts, the text-input dialog, the theme.

import { el } from "./tree.js";

export const $ = (selector, root = document) => root.querySelector(selector);

/** A short message in the corner (kind: info | error). */
export function toast(text, kind = "info") {
  const box = el("div", `toast toast-${kind}`, text);
  $("#toasts").append(box);
  setTimeout(() => box.classList.add("leaving"), kind === "error" ? 6000 : 3000);
  setTimeout(() => box.remove(), kind === "error" ? 6500 : 3500);
}

/**
 * Ask for a line of text in #prompt-dialog. `submit(value)` may throw to show an error and
 * keep the dialog open. Resolves with the value, or null when cancelled.
 */
export function askText({ title, value = "", placeholder = "", submit }) {
  const dialog = $("#prompt-dialog");
  const input = $("#prompt-input");
  const error = $("#prompt-error");
  $("#prompt-title").textContent = title;
  input.value = value;
  input.placeholder = placeholder;
  error.hidden = true;
  return new Promise((resolve) => {
    const form = $("#prompt-form");
    const finish = (result) => {
      form.removeEventListener("submit", onSubmit);
      $("#prompt-cancel").removeEventListener("click", onCancel);
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      resolve(result);
    };
    const onSubmit = async (event) => {
      event.preventDefault();
      try {
        if (submit) await submit(input.value);
        finish(input.value);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    };
    const onCancel = () => finish(null);
    const onClose = () => finish(null);
    form.addEventListener("submit", onSubmit);
    $("#prompt-cancel").addEventListener("click", onCancel);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    input.select();
  });
}

const THEME_KEY = "moco-theme";

function systemTheme() {
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function currentTheme() {
  return document.documentElement.dataset.theme || systemTheme();
}

export function applyTheme() {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  else delete document.documentElement.dataset.theme;
  const label = $("#theme-label");
  if (label) label.textContent = currentTheme() === "dark" ? "Dark" : "Light";
}

export function setupTheme() {
  applyTheme();
  $("#theme-toggle").addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    localStorage.setItem(THEME_KEY, next);
    applyTheme();
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
}

/** "3 min ago", "yesterday", a date. */
export function relativeTime(iso) {
  const time = Date.parse(iso);
  if (!Number.isFinite(time)) return "";
  const seconds = (Date.now() - time) / 1000;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  if (seconds < 172800) return "yesterday";
  return new Date(time).toLocaleDateString();
}

export function formatBytes(n) {
  n = Number(n) || 0;
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1048576).toFixed(1)} MB`;
}
