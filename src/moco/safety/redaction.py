"""Secret redaction: keep API keys, tokens and passwords out of logs, sessions and the UI.

A :class:`Redactor` replaces three kinds of secret:

- **known values** — the configured API keys, anything added with :meth:`Redactor.add_secret`,
  and the values of environment variables whose *names* look secret (``*_KEY``, ``*_TOKEN``,
  ``*_SECRET``, ``*PASSWORD*``, ``*_PASS``, ``*_PWD``, ``*CREDENTIAL*``) plus the passwords
  inside any ``scheme://user:password@host`` value. They become ``[REDACTED]``;
- **token formats** recognised by shape (OpenAI, Anthropic, Google, GitHub, GitLab, Slack,
  AWS, Stripe, Hugging Face, npm, PyPI keys; JWTs; PEM private keys) — replaced whole by a
  labelled marker such as ``[REDACTED:github-token]``;
- **secrets in context** (``Bearer …``, ``Authorization: Basic …``, URL passwords,
  ``password = …`` and ``api_key: "…"`` assignments) — only the secret part is replaced, so
  ``postgres://app:[REDACTED:url-password]@db/prod`` still says what it was.

Values shorter than eight characters are never redacted as known values (``"true"``, ports,
short words would shred ordinary text). Placeholders (``${DB_PASSWORD}``, ``<token>``,
``****``) and code (``password = get_password()``) are left alone. Redaction is idempotent.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

__all__ = ["REDACTED", "Redactor", "is_env_like_file", "looks_secret_name"]

#: what a known secret value becomes; pattern matches become ``[REDACTED:<label>]``
REDACTED = "[REDACTED]"
#: known values shorter than this are ignored
MIN_SECRET_LENGTH = 8
#: up to this many known values, ``in`` checks decide whether the literal pass is needed
_PREFILTER_MAX = 16

T = TypeVar("T")

# -- token formats ------------------------------------------------------------------------
# Each rule is (label, regex), applied in order, most specific first. Where only part of a
# match is secret, the regex names it ``(?P<s>...)``. Speed comes from every regex starting
# with a literal, which ``re`` finds with a fast scan: the "not inside a longer token" check
# is a lookbehind placed after the literal, and the case-insensitive rules (``_KEYED``) are
# written in lower case and run over ``text.lower()``, their spans mapped back to ``text``.
_W = "A-Za-z0-9_-"


def _token(prefix: str, rest: str) -> str:
    """``prefix`` + ``rest``, not preceded by a token character, ``prefix`` kept literal."""
    literal = re.escape(prefix)
    return f"{literal}(?<![{_W}]{literal}){rest}"


_TOKENS: tuple[tuple[str, str], ...] = (
    ("private-key",
     r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
     r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)"),
    ("anthropic-key", _token("sk-ant-", f"[{_W}]{{20,}}")),
    ("openrouter-key", _token("sk-or-", f"[{_W}]{{20,}}")),
    ("openai-key", _token("sk-", f"(?=[{_W}]*[0-9])[{_W}]{{20,}}")),
    ("google-api-key", _token("AIza", f"[{_W}]{{35}}(?![{_W}])")),
    ("google-oauth-secret", _token("GOCSPX-", f"[{_W}]{{28}}(?![{_W}])")),
    ("github-token", _token("gh", r"[pousr]_[A-Za-z0-9]{36,255}")),
    ("github-token", _token("github_pat_", r"[A-Za-z0-9_]{22,255}")),
    ("gitlab-token", _token("glpat-", f"[{_W}]{{20,}}")),
    ("slack-token", _token("xox", r"[baprs]-[A-Za-z0-9-]{10,}")),
    ("slack-webhook", r"hooks\.slack\.com/services/(?P<s>[A-Za-z0-9_/-]{20,})"),
    ("aws-access-key-id", r"A[KS]IA(?<![A-Z0-9]A[KS]IA)[0-9A-Z]{16}(?![A-Z0-9])"),
    ("stripe-key", _token("sk_", r"(?:live|test)_[0-9A-Za-z]{16,}")),
    ("stripe-key", _token("rk_", r"(?:live|test)_[0-9A-Za-z]{16,}")),
    ("huggingface-token", _token("hf_", r"[A-Za-z0-9]{34,}(?![A-Za-z0-9_-])")),
    ("npm-token", _token("npm_", r"[A-Za-z0-9]{36}(?![A-Za-z0-9_-])")),
    ("pypi-token", _token("pypi-AgEIcHlwaS5vcmc", f"[{_W}]{{50,}}")),
    ("jwt", _token("eyJ", f"[{_W}]{{10,}}\\.[{_W}]{{10,}}\\.[{_W}]{{10,}}")),
    ("url-password", r"://[^\s:/?#@\"'<>]*:(?P<s>[^\s/?#\"'<>]+)@"),
)

# key = value, "key": "value", KEY='value', ?key=value&. Unquoted values must end the line
# (or a query-string parameter), so that prose ("Password: enter it twice") is left alone;
# quoted password values may hold spaces.
_ASSIGN = r"[\"']?[ \t]*[:=][ \t]*(?P<q>[\"'])?"


def _unquoted(minimum: int) -> str:
    """An unquoted value: a query-string parameter (up to ``&name=``) or the rest of the line.

    The runs are possessive and bounded, so "token=token=token=..." cannot backtrack
    quadratically.
    """
    run = "{" + str(minimum) + ",256}+"
    return rf"(?:[^\s\"'`&]{run}(?=&[\w.-]+=)|[^\s\"'`]{run}(?=[ \t]*\r?$))"


_PASSWORD_VALUE = r"(?P<s>(?(q)[^\r\n]{1,256}?|" + _unquoted(1) + r"))(?(q)(?P=q))"
_SECRET_VALUE = r"(?P<s>(?(q)[^\s\"'`]{8,256}+|" + _unquoted(8) + r"))(?(q)(?P=q))"

#: case-insensitive rules, in lower case
_KEYED: tuple[tuple[str, str], ...] = (
    ("aws-secret-key",
     r"secret_?access_?key[\"']?[ \t]*[:=][ \t]*[\"']?"
     r"(?P<s>[a-z0-9/+=]{40})(?![a-z0-9/+=])"),
    ("bearer-token",
     r"bearer(?<![a-z]bearer)[ \t]+(?P<s>(?=[a-z0-9._~+/-]*[0-9])[a-z0-9._~+/-]{16,}=*)"),
    ("basic-auth",
     r"authorization[\"']?[ \t]*[:=][ \t]*[\"']?basic[ \t]+(?P<s>[a-z0-9+/]{8,}={0,2})"),
    ("password", r"passw(?:or)?d" + _ASSIGN + _PASSWORD_VALUE),
    ("password", r"passphrase" + _ASSIGN + _PASSWORD_VALUE),
    ("password", r"pwd" + _ASSIGN + _PASSWORD_VALUE),
    ("secret", r"secret(?:[_-]?key)?" + _ASSIGN + _SECRET_VALUE),
    ("secret", r"token" + _ASSIGN + _SECRET_VALUE),
    ("secret", r"api[_-]?key" + _ASSIGN + _SECRET_VALUE),
    ("secret", r"access[_-]?key" + _ASSIGN + _SECRET_VALUE),
    ("secret", r"auth[_-]?key" + _ASSIGN + _SECRET_VALUE),
    ("secret", r"private[_-]?key" + _ASSIGN + _SECRET_VALUE),
)

_PLACEHOLDER_RE = re.compile(r"[$<{%\[]|[*xX.•]+$|(?i:pass(?:word|wd)?|pwd|secret|token)$")
_CODE_RE = re.compile(r"[()\[\]{}]|[,;]$")
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z_.]*")
#: ``/usr/local``, ``~/.ssh``, ``./data``, ``C:\\Users``; no "+" or "=" (base64 keys may
#: start with "/")
_PATH_RE = re.compile(r"(?:~|\.{1,2})?/[\w.@~/ -]*|[A-Za-z]:[\\/][\w.@~\\/ -]*")
_LETTER_RE = re.compile(r"[A-Za-z]")
_DIGIT_RE = re.compile(r"[0-9]")


def _looks_like_path(value: str) -> bool:
    return _PATH_RE.fullmatch(value) is not None


def _keep_password(value: str) -> bool:
    """True for ``password = password_field`` or ``password: str``: code, not a password."""
    if len(value) < 4 or _IDENTIFIER_RE.fullmatch(value) or _looks_like_path(value):
        return True  # PWD=/home/me/project is a directory
    return _CODE_RE.search(value) is not None


def _keep_secret(value: str) -> bool:
    """A real token mixes letters and digits; ``token = self.token`` does not."""
    if _CODE_RE.search(value):
        return True
    return not (_LETTER_RE.search(value) and _DIGIT_RE.search(value))


def _keep_nothing(value: str) -> bool:
    return False


_KEEP: dict[str, Callable[[str], bool]] = {
    "password": _keep_password,
    "secret": _keep_secret,
}


@dataclass(frozen=True, slots=True)
class _Rule:
    label: str
    regex: re.Pattern[str]
    #: the rule runs over ``text.lower()`` (``regex`` is in lower case)
    keyed: bool = False

    def replacement(self, text: str, match: re.Match[str]) -> str | None:
        """What replaces ``match`` (found in ``text`` or its lower-case twin), or None."""
        marker = f"[REDACTED:{self.label}]"
        if "s" not in self.regex.groupindex:
            return marker
        start, end = match.span("s")
        value = text[start:end]
        if _PLACEHOLDER_RE.match(value) or _KEEP.get(self.label, _keep_nothing)(value):
            return None
        return text[match.start():start] + marker + text[end:match.end()]

    def sub(self, text: str, haystack: str) -> tuple[str, bool]:
        """``text`` with this rule's matches in ``haystack`` replaced; and whether any was."""
        pieces: list[str] = []
        last = 0
        for match in self.regex.finditer(haystack):
            new = self.replacement(text, match)
            if new is not None:
                pieces += (text[last:match.start()], new)
                last = match.end()
        if not pieces:
            return text, False
        pieces.append(text[last:])
        return "".join(pieces), True


_TOKEN_RULES = tuple(_Rule(label, re.compile(rx, re.MULTILINE)) for label, rx in _TOKENS)
_KEYED_RULES = tuple(_Rule(label, re.compile(rx, re.MULTILINE), True) for label, rx in _KEYED)
#: the keyed rules for the rare text whose lower-case form has another length ("İ" -> "i̇")
_KEYED_FALLBACK = tuple(
    _Rule(label, re.compile(rx, re.MULTILINE | re.IGNORECASE)) for label, rx in _KEYED
)


#: one pass that rejects short texts no rule can match (most event strings are short, and
#: thirty separate scans of a ten-character text cost more than one combined scan)
def _any_of(rules: tuple[_Rule, ...]) -> re.Pattern[str]:
    patterns = (re.sub(r"\(\?P<\w+>", "(?:", rule.regex.pattern) for rule in rules)
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns), re.MULTILINE)


def _leading_words(rules: tuple[_Rule, ...]) -> re.Pattern[str]:
    """The literal word each keyed rule starts with (a necessary condition for a match)."""
    words = []
    for rule in rules:
        lead = re.match(r"[a-z]+", rule.regex.pattern)
        assert lead is not None, f"keyed rule {rule.label} must start with a literal word"
        words.append(lead.group(0))
    return re.compile("|".join(sorted(set(words), key=len, reverse=True)))


_ANY_TOKEN = _any_of(_TOKEN_RULES)
_ANY_KEYED = _leading_words(_KEYED_RULES)
_SHORT = 400


def _apply_rules(text: str, stop_at_first: bool = False) -> tuple[str, bool]:
    """Run every rule over ``text``; with ``stop_at_first``, only until one matches."""
    if (len(text) <= _SHORT and not _ANY_TOKEN.search(text)
            and not _ANY_KEYED.search(text.lower())):
        return text, False
    found = False
    for rule in _TOKEN_RULES:
        text, hit = rule.sub(text, text)
        found = found or hit
        if found and stop_at_first:
            return text, True
    lower = text.lower()
    keyed = _KEYED_RULES if len(lower) == len(text) else _KEYED_FALLBACK
    for rule in keyed:
        text, hit = rule.sub(text, lower if rule.keyed else text)
        if hit:
            found = True
            if stop_at_first:
                return text, True
            lower = text.lower()
    return text, found

# -- secret-looking environment variables ----------------------------------------------------
_SECRET_NAME_RE = re.compile(
    r"(?:^|_)(?:KEY|APIKEY|TOKEN|SECRET|PASS|PWD)$|PASSW(?:OR)?D|CREDENTIAL", re.IGNORECASE
)
_NOT_SECRET_WORDS = frozenset(
    {"true", "false", "yes", "no", "none", "null", "on", "off", "enabled", "disabled"}
)
_NUMBERISH_RE = re.compile(r"[0-9.,:_+-]+")
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def looks_secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret."""
    return _SECRET_NAME_RE.search(name) is not None


def _url_passwords(value: str) -> list[str]:
    try:
        password = urlsplit(value).password
    except ValueError:
        return []
    if not password:
        return []
    return list(dict.fromkeys([password, unquote(password)]))


def secrets_from_env(env: Mapping[str, str]) -> list[str]:
    """Secret values in an environment: by variable name, and passwords inside URLs."""
    found: list[str] = []
    for name, raw in env.items():
        value = (raw or "").strip()
        if _URL_RE.match(value):
            found.extend(_url_passwords(value))
        if looks_secret_name(name) and _looks_secret_value(value):
            found.append(value)  # a URL too: a webhook URL in SLACK_TOKEN is the secret
    return [v for v in found if len(v) >= MIN_SECRET_LENGTH]


def _looks_secret_value(value: str) -> bool:
    if len(value) < MIN_SECRET_LENGTH or value.lower() in _NOT_SECRET_WORDS:
        return False
    return not (_NUMBERISH_RE.fullmatch(value) or _looks_like_path(value))


# -- the redactor ---------------------------------------------------------------------------


class Redactor:
    """Replaces secrets in text and in JSON-like objects; see the module documentation.

    ``extra_patterns`` are regular expressions of the caller's own secret formats; a match
    is replaced whole, or only its ``(?P<secret>...)`` group when it has one.
    """

    def __init__(
        self,
        secrets: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        patterns: bool = True,
        extra_patterns: Sequence[str] = (),
    ) -> None:
        self._secrets: set[str] = set()
        self._literal: re.Pattern[str] | None = None
        self._patterns = patterns
        self._extra: list[re.Pattern[str]] = []
        for regex in extra_patterns:
            try:
                self._extra.append(re.compile(regex, re.MULTILINE))
            except re.error as exc:
                raise ValueError(f"invalid redaction pattern {regex!r}: {exc}") from None
        values = list(secrets) + (secrets_from_env(env) if env is not None else [])
        for value in values:
            self._add(value)
        self._compile()

    @property
    def secret_count(self) -> int:
        """How many known values are redacted (not the values themselves)."""
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"Redactor(secrets={len(self._secrets)}, patterns={self._patterns})"

    def add_secret(self, value: str) -> bool:
        """Redact ``value`` from now on; False when it is too short to redact safely."""
        added = self._add(value)
        if added:
            self._compile()
        return added

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by a ``[REDACTED…]`` marker."""
        if not text:
            return text
        if self._literal is not None and self._may_hold_literal(text):
            text = self._literal.sub(REDACTED, text)
        if self._patterns:
            text = _apply_rules(text)[0]
        for extra in self._extra:
            text = extra.sub(_replace_extra, text)
        return text

    def contains_secret(self, text: str) -> bool:
        """Whether :meth:`redact` would change ``text``."""
        if not text:
            return False
        literal = self._literal
        if literal is not None and self._may_hold_literal(text) and literal.search(text):
            return True
        if self._patterns and _apply_rules(text, stop_at_first=True)[1]:
            return True
        return any(extra.search(text) for extra in self._extra)

    def redact_obj(self, obj: T) -> T:
        """A copy of ``obj`` with secrets redacted from every string inside it.

        Walks dicts (values, not keys), lists, tuples and dataclass instances such as events
        and messages; other values pass through. Unchanged parts are returned as they are.
        """
        return cast(T, self._walk(obj))

    def _walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            items = {key: self._walk(value) for key, value in obj.items()}
            changed = any(items[key] is not value for key, value in obj.items())
            return items if changed else obj
        if isinstance(obj, list | tuple):
            values = [self._walk(value) for value in obj]
            if all(new is old for new, old in zip(values, obj, strict=True)):
                return obj
            if isinstance(obj, list):
                return values
            return type(obj)(*values) if hasattr(obj, "_fields") else type(obj)(values)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return self._walk_dataclass(obj)
        return obj

    def _walk_dataclass(self, obj: Any) -> Any:
        changes = {}
        for f in dataclasses.fields(obj):
            if not f.init:
                continue
            value = getattr(obj, f.name)
            new = self._walk(value)
            if new is not value:
                changes[f.name] = new
        return dataclasses.replace(obj, **changes) if changes else obj

    def _may_hold_literal(self, text: str) -> bool:
        # ``in`` is a fast C scan; with few secrets it beats one pass of the alternation
        if len(self._secrets) > _PREFILTER_MAX:
            return True
        return any(secret in text for secret in self._secrets)

    def _add(self, value: str) -> bool:
        value = (value or "").strip()
        if len(value) < MIN_SECRET_LENGTH or value in self._secrets:
            return False
        self._secrets.add(value)
        return True

    def _compile(self) -> None:
        if not self._secrets:
            self._literal = None
            return
        ordered = sorted(self._secrets, key=lambda s: (-len(s), s))
        self._literal = re.compile("|".join(re.escape(s) for s in ordered))


def _replace_extra(match: re.Match[str]) -> str:
    if "secret" not in match.re.groupindex or match.start("secret") < 0:
        return REDACTED
    whole, offset = match.group(0), match.start()
    start, end = match.start("secret") - offset, match.end("secret") - offset
    return whole[:start] + REDACTED + whole[end:]


# -- files that hold secrets ----------------------------------------------------------------
_ENV_TEMPLATES = frozenset({".env.example", ".env.sample", ".env.template", ".env.dist"})
_SECRET_FILE_NAMES = frozenset({
    ".env", ".envrc", ".netrc", "_netrc", ".pgpass", "credentials", ".git-credentials",
    ".npmrc", ".pypirc",
})
_SECRET_SUFFIXES = (".env", ".pem", ".key", ".p12", ".pfx")
_SSH_KEY_RE = re.compile(r"id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?(?!.*\.pub$)", re.IGNORECASE)


def is_env_like_file(path: str | PurePath) -> bool:
    """Whether a file, by its name, probably holds secrets (reading it should ask first).

    Covers ``.env`` and ``.env.*`` (but not ``.env.example``/``.sample``/``.template``/
    ``.dist``, which are meant to be committed), ``*.env``, ``.envrc``, ``.netrc``,
    ``.pgpass``, ``credentials`` (as in ``~/.aws/credentials``), ``.git-credentials``,
    ``.npmrc``, ``.pypirc``, private keys (``*.pem``, ``*.key``, ``*.p12``, ``*.pfx``) and SSH
    keys ``id_rsa*``/``id_ed25519*``/... except the public ``*.pub`` halves.
    """
    name = Path(path).name.lower()
    if name in _ENV_TEMPLATES:
        return False
    if name in _SECRET_FILE_NAMES or name.startswith(".env."):
        return True
    if name.endswith(_SECRET_SUFFIXES):
        return True
    return _SSH_KEY_RE.match(name) is not None
