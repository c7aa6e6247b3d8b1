// A small Markdown renderer that builds DOM nodes only (createElement + textContent).
// Nothing here ever parses HTML: raw HTML in the source is shown as text, images are
// rendered as links (never loaded), and links are kept only for http:, https: and mailto:.

import { highlight } from "./highlight.js";

const SAFE_SCHEMES = ["http:", "https:", "mailto:"];

/** Render Markdown `source` into a fresh DocumentFragment. */
export function renderMarkdown(source) {
  const frag = document.createDocumentFragment();
  const lines = String(source || "").replace(/\r\n?/g, "\n").split("\n");
  renderBlocks(lines, frag);
  return frag;
}

/** Replace the content of `element` with the rendered Markdown. */
export function renderInto(element, source) {
  element.replaceChildren(renderMarkdown(source));
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---------------------------------------------------------------- blocks

const FENCE = /^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$/;
const HR = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

let depth = 0;
const MAX_DEPTH = 16;

function renderBlocks(lines, parent) {
  if (depth >= MAX_DEPTH) {
    parent.append(el("p", null, lines.join("\n")));
    return;
  }
  depth++;
  try {
    renderBlockLines(lines, parent);
  } finally {
    depth--;
  }
}

function renderBlockLines(lines, parent) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i++; continue; }
    const next = [fencedCode, heading, rule, blockquote, list, table]
      .map((fn) => fn(lines, i, parent)).find((n) => n !== null);
    if (next !== undefined) { i = next; continue; }
    i = paragraph(lines, i, parent);
  }
}

function fencedCode(lines, i, parent) {
  const m = FENCE.exec(lines[i]);
  if (!m) return null;
  const [, indent, fence, lang] = m;
  const body = [];
  let j = i + 1;
  while (j < lines.length) {
    const close = lines[j].trim();
    if (close.startsWith(fence[0].repeat(fence.length)) && /^[`~]+$/.test(close)) break;
    body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
    j++;
  }
  parent.append(codeBlock(body.join("\n"), lang));
  return j + 1;
}

/** A code block with a language label and a copy button. */
export function codeBlock(code, lang) {
  const wrap = el("div", "code-block");
  const bar = el("div", "code-bar");
  bar.append(el("span", "code-lang", lang || "text"));
  const copy = el("button", "code-copy", "Copy");
  copy.type = "button";
  copy.addEventListener("click", () => copyText(code, copy));
  bar.append(copy);
  const pre = el("pre");
  const codeEl = el("code");
  if (lang) codeEl.dataset.lang = lang;
  codeEl.append(highlight(code, lang));
  pre.append(codeEl);
  wrap.append(bar, pre);
  return wrap;
}

/** Copy `text`; the button says so for a moment. */
export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    fallbackCopy(text);
    button.textContent = "Copied";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
}

function fallbackCopy(text) {
  const area = el("textarea");
  area.value = text;
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  try { document.execCommand("copy"); } catch { /* nothing more to try */ }
  area.remove();
}

function heading(lines, i, parent) {
  const m = HEADING.exec(lines[i]);
  if (!m) return null;
  const h = el("h" + m[1].length);
  appendInline(h, m[2] || "");
  parent.append(h);
  return i + 1;
}

function rule(lines, i, parent) {
  if (!HR.test(lines[i])) return null;
  parent.append(el("hr"));
  return i + 1;
}

function blockquote(lines, i, parent) {
  if (!QUOTE.test(lines[i])) return null;
  const inner = [];
  let j = i;
  while (j < lines.length && lines[j].trim()) {
    const m = QUOTE.exec(lines[j]);
    inner.push(m ? m[1] : lines[j]);
    j++;
  }
  const quote = el("blockquote");
  renderBlocks(inner, quote);
  parent.append(quote);
  return j;
}

function indentOf(line) {
  const m = /^\s*/.exec(line.replace(/\t/g, "    "));
  return m[0].length;
}

function list(lines, i, parent) {
  const first = LIST_ITEM.exec(lines[i]);
  if (!first || HR.test(lines[i])) return null;
  const baseIndent = indentOf(lines[i]);
  const ordered = /\d/.test(first[2]);
  const listEl = el(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) listEl.start = parseInt(first[2], 10);
  let j = i;
  while (j < lines.length) {
    const m = LIST_ITEM.exec(lines[j]);
    if (!m || indentOf(lines[j]) !== baseIndent || /\d/.test(m[2]) !== ordered) break;
    const body = [m[3]];
    const contentIndent = lines[j].replace(/\t/g, "    ").length - m[3].length;
    j++;
    let blank = false;
    while (j < lines.length) {
      const line = lines[j];
      if (!line.trim()) { blank = true; body.push(""); j++; continue; }
      const ind = indentOf(line);
      if (ind <= baseIndent && (LIST_ITEM.test(line) || blank)) break;
      if (ind <= baseIndent && !blank && (FENCE.test(line) || HEADING.test(line) || QUOTE.test(line))) break;
      body.push(line.replace(/\t/g, "    ").slice(Math.min(ind, contentIndent)));
      blank = false;
      j++;
    }
    while (body.length && !body[body.length - 1].trim()) body.pop();
    listEl.append(listItem(body));
  }
  parent.append(listEl);
  return j;
}

function listItem(body) {
  const li = el("li");
  const task = /^\[([ xX])\]\s+(.*)$/.exec(body[0]);
  if (task) {
    li.className = "task";
    const box = el("input");
    box.type = "checkbox";
    box.disabled = true;
    box.checked = task[1] !== " ";
    li.append(box);
    body = [task[2], ...body.slice(1)];
  }
  const simple = body.every((l) => !LIST_ITEM.test(l) && !FENCE.test(l) && l.trim());
  if (simple) {
    appendInline(li, body.join("\n"));
  } else {
    const [head, ...rest] = body;
    const restStart = rest.findIndex((l) => !l.trim() || LIST_ITEM.test(l) || FENCE.test(l));
    const headLines = restStart < 0 ? body : [head, ...rest.slice(0, restStart)];
    appendInline(li, headLines.join("\n"));
    if (restStart >= 0) renderBlocks(rest.slice(restStart), li);
  }
  return li;
}

function splitRow(line) {
  let s = line.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  const cells = [];
  let cur = "";
  let inCode = false;
  for (let k = 0; k < s.length; k++) {
    const c = s[k];
    if (c === "\\" && s[k + 1] === "|") { cur += "|"; k++; continue; }
    if (c === "`") inCode = !inCode;
    if (c === "|" && !inCode) { cells.push(cur.trim()); cur = ""; continue; }
    cur += c;
  }
  cells.push(cur.trim());
  return cells;
}

function table(lines, i, parent) {
  if (!lines[i].includes("|") || i + 1 >= lines.length || !TABLE_SEP.test(lines[i + 1])) {
    return null;
  }
  if (!lines[i + 1].includes("-")) return null;
  const head = splitRow(lines[i]);
  const aligns = splitRow(lines[i + 1]).map((c) =>
    c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : "");
  const tableEl = el("table");
  const thead = el("thead");
  thead.append(row(head, "th", aligns));
  const tbody = el("tbody");
  let j = i + 2;
  while (j < lines.length && lines[j].trim() && lines[j].includes("|")) {
    tbody.append(row(splitRow(lines[j]), "td", aligns));
    j++;
  }
  tableEl.append(thead, tbody);
  const wrap = el("div", "table-wrap");
  wrap.append(tableEl);
  parent.append(wrap);
  return j;
}

function row(cells, tag, aligns) {
  const tr = el("tr");
  cells.forEach((cell, k) => {
    const c = el(tag);
    if (aligns[k]) c.className = "align-" + aligns[k];
    appendInline(c, cell);
    tr.append(c);
  });
  return tr;
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || HR.test(line) || QUOTE.test(line) ||
    LIST_ITEM.test(line);
}

function paragraph(lines, i, parent) {
  const body = [lines[i]];
  let j = i + 1;
  while (j < lines.length && lines[j].trim() && !startsBlock(lines[j])) {
    if (j + 1 < lines.length && TABLE_SEP.test(lines[j + 1]) && lines[j].includes("|")) break;
    body.push(lines[j]);
    j++;
  }
  const p = el("p");
  appendInline(p, body.join("\n"));
  parent.append(p);
  return j;
}

// ---------------------------------------------------------------- inline

const INLINE = [
  { first: "\\", re: /\\([\\`*_{}[\]()#+\-.!|~<>])/y, make: (m) => document.createTextNode(m[1]) },
  { first: "`", re: /(`+)([\s\S]*?[^`])\1(?!`)/y, make: (m) => el("code", null, m[2].replace(/^ (.*) $/s, "$1")) },
  { first: "!", re: /!\[([^\]]*)\]\(\s*<?((?:[^\s()<>]|\([^\s()<>]*\))*)>?(?:\s+"[^"]*")?\s*\)/y, make: (m) => imageLink(m[1], m[2]) },
  { first: "[", re: /\[((?:[^[\]]|\[[^\]]*\])*)\]\(\s*<?((?:[^\s()<>]|\([^\s()<>]*\))*)>?(?:\s+"[^"]*")?\s*\)/y, make: (m) => link(m[1], m[2]) },
  { first: "<", re: /<((?:https?:\/\/|mailto:)[^\s<>]+)>/y, make: (m) => link(null, m[1]) },
  { first: "*_~", match: (text, pos) => emphasis(text, pos) },
  { first: "h", re: /https?:\/\/[^\s<>()]*[^\s<>().,;:!?'"\]]/y, make: (m) => link(null, m[0]), wordStart: true },
  { first: " \\", re: / {2,}\n|\\\n/y, make: () => el("br") },
];

const SPECIAL = /[\\`*_![<~h \n]/g;

function appendInline(parent, text) {
  let pos = 0;
  let plain = "";
  const flush = () => { if (plain) { parent.append(document.createTextNode(plain)); plain = ""; } };
  while (pos < text.length) {
    SPECIAL.lastIndex = pos;
    const found = SPECIAL.exec(text);
    if (!found) { plain += text.slice(pos); break; }
    plain += text.slice(pos, found.index);
    pos = found.index;
    const hit = matchInline(text, pos);
    if (hit) {
      flush();
      parent.append(hit.node);
      pos += hit.length;
    } else {
      plain += text[pos];
      pos++;
    }
  }
  flush();
}

function matchInline(text, pos) {
  const c = text[pos];
  for (const rule of INLINE) {
    if (!rule.first.includes(c)) continue;
    if (rule.match) {
      const hit = rule.match(text, pos);
      if (hit) return hit;
      continue;
    }
    rule.re.lastIndex = pos;
    const m = rule.re.exec(text);
    if (m) {
      if (rule.wordStart && pos > 0 && /\w/.test(text[pos - 1])) continue;
      return { node: rule.make(m), length: m[0].length };
    }
  }
  return null;
}

const EMPHASIS = { "**": "strong", "__": "strong", "~~": "del", "*": "em", "_": "em" };
/** The last closer found per delimiter in the text being scanned: openers that come later
 * and before that closer share it, so a line full of `*` stays linear. */
const closers = { text: null, found: new Map() };

/** **strong**, __strong__, *em*, _em_, ~~del~~ at `pos`: found by scanning, not backtracking. */
function emphasis(text, pos) {
  const two = text.slice(pos, pos + 2);
  const delim = EMPHASIS[two] ? two : text[pos] === "~" ? null : text[pos];
  if (!delim) return null;
  const start = pos + delim.length;
  if (start >= text.length || /\s/.test(text[start])) return null;
  if (delim[0] === "_" && pos > 0 && /\w/.test(text[pos - 1])) return null;
  const end = closing(text, start, delim);
  if (end < 0) return null;
  return { node: wrapInline(EMPHASIS[delim], text.slice(start, end)), length: end + delim.length - pos };
}

/** Where `delim` closes after `start` (-1: never): after a non-space, a run that fits. */
function closing(text, start, delim) {
  if (closers.text !== text) { closers.text = text; closers.found.clear(); }
  const known = closers.found.get(delim);
  if (known && known.from <= start && (known.at < 0 || start < known.at)) return known.at;
  const at = scanClosing(text, start, delim);
  closers.found.set(delim, { from: start, at });
  return at;
}

function scanClosing(text, start, delim) {
  const ch = delim[0];
  let i = start + 1;
  while (i < text.length) {
    i = text.indexOf(ch, i);
    if (i < 0) return -1;
    let run = i;
    while (run < text.length && text[run] === ch) run++;
    const length = run - i;
    const fits = delim.length === 2 ? length >= 2 : length === 1 || length === 3;
    const word = ch === "_" && run < text.length && /\w/.test(text[run]);
    if (fits && !/\s/.test(text[i - 1]) && !word) return delim.length === 2 && length > 2 ? run - 2 : i;
    i = run;
  }
  return -1;
}

function wrapInline(tag, inner) {
  const node = el(tag);
  appendInline(node, inner);
  return node;
}

/** The URL when it is http(s) or mailto, else null. */
export function safeUrl(href) {
  try {
    const url = new URL(href, "https://invalid.example/");
    if (!SAFE_SCHEMES.includes(url.protocol) || url.host === "invalid.example") return null;
    return url.href;
  } catch {
    return null;
  }
}

function link(label, href) {
  const url = safeUrl(href);
  if (!url) {
    const span = el("span", "unsafe-link");
    appendInline(span, label !== null ? `${label} (${href})` : href);
    return span;
  }
  const a = el("a");
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  if (label === null) a.textContent = href;
  else appendInline(a, label);
  return a;
}

function imageLink(alt, href) {
  const url = safeUrl(href);
  const text = "image: " + (alt || "untitled");
  if (!url) return el("span", "unsafe-link", `[${text}] (${href})`);
  const a = el("a", "image-link", `[${text}]`);
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.title = url;
  return a;
}
