// A tiny syntax highlighter: per-language token rules (comments, strings, numbers,
// keywords...) applied left to right; output is spans built with createElement.

const words = (list) => new RegExp(`\\b(?:${list.split(" ").join("|")})\\b`, "y");

const NUM = /\b(?:0x[\da-fA-F_]+|0b[01_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)\b/y;
const DQ = /"(?:[^"\\\n]|\\.)*"?/y;
const SQ = /'(?:[^'\\\n]|\\.)*'?/y;
const BT = /`(?:[^`\\]|\\[\s\S])*`?/y;
const SLASH_COMMENT = /\/\/[^\n]*/y;
const BLOCK_COMMENT = /\/\*[\s\S]*?(?:\*\/|$)/y;
const HASH_COMMENT = /#[^\n]*/y;
const FUNC = /[A-Za-z_$][\w$]*(?=\s*\()/y;

const JS_KW = "const let var function return if else for while do switch case break continue " +
  "new delete typeof instanceof in of class extends super this import export from default " +
  "try catch finally throw async await yield static get set void null undefined true false " +
  "interface type enum implements public private protected readonly declare as namespace";

const LANGS = {
  python: [
    ["comment", HASH_COMMENT],
    ["string", /(?:[rRbBuUfF]{1,2})?(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$))/y],
    ["string", /(?:[rRbBuUfF]{1,2})?(?:"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)/y],
    ["keyword", words("def class return if elif else for while in not and or is import from as " +
      "with try except finally raise pass break continue lambda yield global nonlocal async " +
      "await assert del match case")],
    ["literal", words("None True False self cls")],
    ["builtin", words("print len range dict list set tuple str int float bool open isinstance " +
      "super type enumerate zip map filter sorted any all min max sum")],
    ["meta", /@[\w.]+/y],
    ["number", NUM],
    ["func", FUNC],
  ],
  js: [
    ["comment", SLASH_COMMENT], ["comment", BLOCK_COMMENT],
    ["string", DQ], ["string", SQ], ["string", BT],
    ["keyword", words(JS_KW)],
    ["builtin", words("console window document Math JSON Object Array Promise String Number")],
    ["number", NUM],
    ["func", FUNC],
  ],
  json: [
    ["attr", /"(?:[^"\\\n]|\\.)*"(?=\s*:)/y],
    ["string", DQ],
    ["literal", words("true false null")],
    ["number", /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y],
  ],
  bash: [
    ["comment", /(?<![^\s])#[^\n]*/y],
    ["string", DQ], ["string", SQ],
    ["keyword", words("if then else elif fi for in do done while until case esac function " +
      "return export local readonly set unset source exit")],
    ["builtin", words("echo cd ls cat grep sed awk rm mv cp mkdir chmod git python pip npm " +
      "curl make sudo apt uv pytest")],
    ["variable", /\$(?:\{[^}\n]*\}|\w+|[@#?$!*-])/y],
    ["number", NUM],
  ],
  yaml: [
    ["comment", HASH_COMMENT],
    ["attr", /[\w.-]+(?=\s*:(?:\s|$))/y],
    ["string", DQ], ["string", SQ],
    ["literal", words("true false null yes no on off")],
    ["number", NUM],
    ["meta", /^---/my],
    ["meta", /[&*]\w+/y],
  ],
  html: [
    ["comment", /<!--[\s\S]*?(?:-->|$)/y],
    ["tag", /<\/?[A-Za-z][\w:-]*/y],
    ["tag", /\/?>/y],
    ["attr", /[A-Za-z_:][\w:.-]*(?==)/y],
    ["string", DQ], ["string", SQ],
  ],
  css: [
    ["comment", BLOCK_COMMENT],
    ["string", DQ], ["string", SQ],
    ["attr", /[a-z-]+(?=\s*:)/y],
    ["meta", /@[\w-]+/y],
    ["number", /-?\d*\.?\d+(?:px|em|rem|%|vh|vw|s|ms|fr|deg)?/y],
    ["keyword", /#[\da-fA-F]{3,8}\b|![a-z]+/y],
  ],
  go: [
    ["comment", SLASH_COMMENT], ["comment", BLOCK_COMMENT],
    ["string", DQ], ["string", BT], ["string", SQ],
    ["keyword", words("func package import return if else for range switch case default " +
      "break continue go defer select chan map struct interface type var const fallthrough goto")],
    ["literal", words("nil true false iota")],
    ["builtin", words("string int int64 uint byte rune error bool float64 make len cap append " +
      "new panic recover")],
    ["number", NUM],
    ["func", FUNC],
  ],
  rust: [
    ["comment", SLASH_COMMENT], ["comment", BLOCK_COMMENT],
    ["string", DQ],
    ["string", /'(?:[^'\\\n]|\\.)'/y],
    ["keyword", words("fn let mut pub use mod struct enum impl trait for in while loop if else " +
      "match return break continue as ref move where async await dyn const static unsafe crate " +
      "self Self super type extern")],
    ["literal", words("true false None Some Ok Err")],
    ["builtin", words("String Vec Option Result Box i32 i64 u8 u32 u64 usize f64 bool str")],
    ["meta", /#!?\[[^\]\n]*\]|\w+!/y],
    ["number", NUM],
    ["func", FUNC],
  ],
  sql: [
    ["comment", /--[^\n]*/y], ["comment", BLOCK_COMMENT],
    ["string", SQ], ["string", DQ],
    ["keyword", /\b(?:select|from|where|and|or|not|insert|into|values|update|set|delete|create|table|drop|alter|index|join|left|right|inner|outer|on|group|by|order|having|limit|offset|as|distinct|union|all|primary|key|foreign|references|null|is|in|like|between|case|when|then|else|end|exists|default|begin|commit|with)\b/iy],
    ["number", NUM],
  ],
  diff: [
    ["meta", /^(?:@@[^\n]*|diff [^\n]*|index [^\n]*|\+\+\+ [^\n]*|--- [^\n]*)/my],
    ["inserted", /^\+[^\n]*/my],
    ["deleted", /^-[^\n]*/my],
  ],
};

const ALIASES = {
  py: "python", python3: "python", javascript: "js", ts: "js", typescript: "js", jsx: "js",
  tsx: "js", mjs: "js", sh: "bash", shell: "bash", zsh: "bash", console: "bash", yml: "yaml",
  xml: "html", svg: "html", golang: "go", rs: "rust", patch: "diff", toml: "yaml", ini: "yaml",
  jsonc: "json", scss: "css", htm: "html", cjs: "js", mts: "js", markdown: "md",
};

/** The rule set for a language name (or null when unknown). */
export function languageRules(lang) {
  const key = String(lang || "").toLowerCase();
  return LANGS[ALIASES[key] || key] || null;
}

/** A DocumentFragment of `code` with token spans. */
export function highlight(code, lang) {
  const frag = document.createDocumentFragment();
  const rules = languageRules(lang);
  if (!rules || code.length > 200000) {
    frag.append(document.createTextNode(code));
    return frag;
  }
  let plain = "";
  let pos = 0;
  while (pos < code.length) {
    const token = matchAt(rules, code, pos);
    if (!token) {
      plain += code[pos];
      pos++;
      continue;
    }
    if (plain) { frag.append(document.createTextNode(plain)); plain = ""; }
    const span = document.createElement("span");
    span.className = "tok-" + token.kind;
    span.textContent = token.text;
    frag.append(span);
    pos += token.text.length;
  }
  if (plain) frag.append(document.createTextNode(plain));
  return frag;
}

function matchAt(rules, code, pos) {
  const prev = pos > 0 ? code[pos - 1] : "\n";
  for (const [kind, re] of rules) {
    if (re.source.startsWith("^") && prev !== "\n") continue;
    // a word-ish token may only start at a word boundary
    if (/[\w$]/.test(prev) && /[\w$]/.test(code[pos])) return null;
    re.lastIndex = pos;
    const m = re.exec(code);
    if (m && m[0].length) return { kind, text: m[0] };
  }
  return null;
}
