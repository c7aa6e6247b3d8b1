// The header: profile, provider and model pickers, the working directory, tokens and cost,
// export links, the status indicator.

import { api, sessionPath } from "./api.js";
import { el, formatTokens } from "./tree.js";
import { $, askText, toast } from "./ui.js";

export class Toolbar {
  constructor({ onProfile, onModel, onWorkdir }) {
    this.profiles = [];
    this.providers = [];
    this.info = {};
    this.draft = {};
    this.session = null;
    this.onProfile = onProfile;
    this.onModel = onModel;
    this.onWorkdir = onWorkdir;
    $("#profile").addEventListener("change", (event) => {
      if (this.session) this.onProfile(event.target.value);
      else { this.draft.profile = event.target.value; this.show(null); }
    });
    $("#provider").addEventListener("change", (event) => this.providerChanged(event.target.value));
    const model = $("#model");
    model.addEventListener("change", () => this.modelChanged());
    model.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); model.blur(); }
    });
    $("#workdir").addEventListener("click", () => this.askWorkdir());
    $("#settings-toggle").addEventListener("click", () => {
      const open = document.body.classList.toggle("settings-open");
      $("#settings-toggle").setAttribute("aria-expanded", String(open));
    });
    document.addEventListener("click", (event) => {
      const menu = $("#export-menu");
      if (menu.open && !menu.contains(event.target)) menu.open = false;
    });
  }

  async load() {
    const [info, profiles, providers] = await Promise.all([
      api.get("/api/info"), api.get("/api/profiles"), api.get("/api/providers")]);
    this.info = info || {};
    this.profiles = profiles || [];
    this.providers = providers || [];
    $("#version").textContent = this.info.version ? `v${this.info.version}` : "";
    this.fillProfiles();
    this.fillProviders();
    this.draft = { profile: this.info.default_profile, provider: this.info.default_provider,
      model: this.info.default_model || this.defaultModel(this.info.default_provider) };
  }

  fillProfiles() {
    const select = $("#profile");
    select.replaceChildren();
    for (const profile of this.profiles) {
      const option = el("option", null, profile.name);
      option.value = profile.name;
      option.disabled = Boolean(profile.error);
      option.title = profile.error || profile.description || "";
      if (profile.agent_count > 1) option.textContent = `${profile.name} (${profile.agent_count} agents)`;
      select.append(option);
    }
  }

  fillProviders() {
    const select = $("#provider");
    select.replaceChildren();
    const models = $("#model-options");
    models.replaceChildren();
    for (const provider of this.providers) {
      const option = el("option", null, provider.configured ? provider.name : `${provider.name} (no key)`);
      option.value = provider.name;
      option.title = provider.configured ? provider.adapter || "" : `set ${provider.key_var || "its key"}`;
      select.append(option);
      if (provider.default_model) {
        const m = el("option");
        m.value = provider.default_model;
        m.label = provider.name;
        models.append(m);
      }
    }
  }

  /** The choices for a new session (from the pickers). */
  draftChoices() {
    const { profile, provider, model } = this.draft;
    return { profile: profile || undefined, provider: provider || undefined, model: model || undefined };
  }

  /** Show a session (or the defaults for a draft: session = null). */
  show(session) {
    this.session = session;
    const s = session || this.draft;
    setSelect($("#profile"), s.profile || this.info.default_profile);
    const profile = this.profiles.find((p) => p.name === $("#profile").value);
    $("#empty-hint").textContent = profile?.description ||
      "Ask a question, describe a change, or drop files here.";
    setSelect($("#provider"), s.provider || this.info.default_provider);
    $("#model").value = s.model || "";
    const dir = s.working_dir || this.info.working_dir || "";
    $("#workdir-path").textContent = shortPath(dir);
    $("#workdir").title = `Working directory: ${dir} (click to change)`;
    this.exportLinks(session ? session.id : null);
    this.showUsage(session);
  }

  defaultModel(providerName) {
    const provider = this.providers.find((p) => p.name === providerName);
    return provider?.default_model || this.info.default_model || "";
  }

  exportLinks(id) {
    $("#export-menu").hidden = !id;
    if (!id) return;
    $("#export-md").href = sessionPath(id, "export") + "?format=md";
    $("#export-json").href = sessionPath(id, "export") + "?format=json";
  }

  providerChanged(name) {
    $("#model").value = this.defaultModel(name);
    if (!this.session) this.draft = { ...this.draft, provider: name, model: $("#model").value };
    else this.onModel(name, { provider: name, model: $("#model").value });
  }

  modelChanged() {
    const model = $("#model").value.trim();
    if (!model) return;
    if (!this.session) this.draft.model = model;
    else this.onModel(model, { provider: $("#provider").value, model });
  }

  async askWorkdir() {
    const current = $("#workdir").title.replace(/^Working directory: | \(click to change\)$/g, "");
    await askText({ title: "Working directory", value: current, placeholder: "/path/to/project",
      submit: (value) => this.onWorkdir(value.trim()) });
  }

  /** Tokens and cost (`usage` from GET …/usage or a SessionView). */
  showUsage(usage) {
    const box = $("#usage");
    if (!usage || (!usage.input_tokens && !usage.output_tokens)) {
      box.textContent = "";
      return;
    }
    let text = `${formatTokens(usage.input_tokens)} in · ${formatTokens(usage.output_tokens)} out`;
    if (usage.cost_usd !== null && usage.cost_usd !== undefined) {
      text += ` · $${Number(usage.cost_usd).toFixed(usage.cost_usd < 1 ? 4 : 2)}`;
    }
    box.textContent = text;
    box.title = `${usage.input_tokens} input and ${usage.output_tokens} output tokens`;
  }

  async refreshUsage(id) {
    if (!id) return;
    try {
      this.showUsage(await api.get(sessionPath(id, "usage")));
    } catch (error) {
      if (error.status !== 404) toast(`Usage: ${error.message}`, "error");
    }
  }

  setStatus(state) {
    const status = $("#status");
    status.dataset.state = state;
    status.textContent = state;
    document.body.classList.toggle("is-running", state === "running");
  }

  setTitle(text) {
    $("#session-title").textContent = text;
    document.title = text && text !== "New chat" ? `${text} · moco` : "moco";
  }
}

function setSelect(select, value) {
  if (!value) return;
  if (![...select.options].some((o) => o.value === value)) {
    const option = el("option", null, value);
    option.value = value;
    select.append(option);
  }
  select.value = value;
}

function shortPath(path) {
  const parts = String(path).split("/").filter(Boolean);
  if (parts.length <= 2) return path || "…";
  return "…/" + parts.slice(-2).join("/");
}
