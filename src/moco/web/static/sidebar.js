// The session list: search, select, rename, delete; a drawer on small screens.

import { api, sessionPath, withQuery } from "./api.js";
import { el, icon } from "./tree.js";
import { $, askText, relativeTime, toast } from "./ui.js";

export function sessionLabel(session) {
  return session.name || session.title || "New chat";
}

/** Today, Yesterday, Previous 7 days, Older: the list's headings. */
function dayGroup(iso) {
  const day = (date) => Math.floor((date - new Date(date).getTimezoneOffset() * 60000) / 86400000);
  const age = day(Date.now()) - day(Date.parse(iso) || 0);
  if (age <= 0) return "Today";
  if (age === 1) return "Yesterday";
  return age < 7 ? "Previous 7 days" : "Older";
}

export class Sidebar {
  constructor({ onSelect, onNew, onDeleted, onRenamed }) {
    this.list = $("#session-list");
    this.search = $("#session-search");
    this.onSelect = onSelect;
    this.onDeleted = onDeleted;
    this.onRenamed = onRenamed;
    this.activeId = null;
    this.sessions = [];
    this.timer = 0;
    this.search.addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.refresh(), 200);
    });
    $("#new-session").addEventListener("click", () => { this.closeDrawer(); onNew(); });
    $("#new-session-top").addEventListener("click", () => onNew());
    $("#sidebar-toggle").addEventListener("click", () => this.toggleDrawer());
    $("#sidebar-backdrop").addEventListener("click", () => this.closeDrawer());
  }

  toggleDrawer() {
    document.body.classList.toggle("drawer-open");
  }

  closeDrawer() {
    document.body.classList.remove("drawer-open");
  }

  async refresh() {
    const q = this.search.value.trim();
    try {
      this.sessions = await api.get(withQuery("/api/sessions", { q, limit: 100 }));
    } catch (error) {
      if (error.status !== 401) toast(`Sessions: ${error.message}`, "error");
      return;
    }
    this.render(q);
  }

  render(query) {
    this.list.replaceChildren();
    if (!this.sessions.length) {
      this.list.append(el("li", "session-empty muted", query ? "No matching sessions" : "No sessions yet"));
      return;
    }
    let group = "";
    for (const session of this.sessions) {
      const label = dayGroup(session.updated_at);
      if (label !== group) this.list.append(el("li", "session-group", (group = label)));
      this.list.append(this.item(session));
    }
  }

  item(session) {
    const li = el("li", "session-item");
    li.dataset.id = session.id;
    if (session.id === this.activeId) li.classList.add("active");
    if (session.running) li.classList.add("running");
    const open = el("button", "session-open");
    open.type = "button";
    open.append(el("span", "session-name", sessionLabel(session)),
      el("span", "session-meta", `${relativeTime(session.updated_at)} · ${session.profile || ""}`));
    open.title = sessionLabel(session);
    open.addEventListener("click", () => { this.closeDrawer(); this.onSelect(session.id); });
    const actions = el("span", "session-actions");
    actions.append(
      this.action("pencil", "Rename", "session-rename", () => this.rename(session)),
      this.action("trash", "Delete", "session-delete", () => this.remove(session)));
    li.append(open, actions);
    return li;
  }

  action(iconName, label, className, handler) {
    const button = el("button", `icon-btn ${className}`);
    button.append(icon(iconName, 15));
    button.type = "button";
    button.title = label;
    button.setAttribute("aria-label", label);
    button.addEventListener("click", (event) => { event.stopPropagation(); handler(); });
    return button;
  }

  setActive(id) {
    this.activeId = id;
    for (const li of this.list.querySelectorAll(".session-item")) {
      li.classList.toggle("active", li.dataset.id === id);
    }
  }

  async rename(session) {
    await askText({
      title: "Rename session",
      value: session.name || session.title || "",
      placeholder: "Name",
      submit: async (value) => {
        const name = value.trim() || null;
        const updated = await api.patch(sessionPath(session.id), { name });
        this.onRenamed?.(updated);
        await this.refresh();
      },
    });
  }

  async remove(session) {
    if (!confirm(`Delete “${sessionLabel(session)}”? This cannot be undone.`)) return;
    try {
      await api.del(sessionPath(session.id));
    } catch (error) {
      toast(error.status === 409 ? "The session is running: stop it first." : error.message, "error");
      return;
    }
    await this.refresh();
    this.onDeleted?.(session.id);
  }
}
