"""Redactor: known secret values, token formats, secrets in context, and no false positives.

Fake tokens are assembled from pieces so that secret scanners do not flag this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from moco.core.events import ToolCallFinished, ToolCallStarted
from moco.core.messages import Message, TextPart, ToolCallPart
from moco.safety.redaction import REDACTED, Redactor, is_env_like_file, looks_secret_name

ALNUM = "aB3dE6fG9hJ2kL5mN8pQ1rS4tU7vW0xY3zA6"  # 36 characters

OPENAI_LEGACY = "sk-" + "T3BlbkFJ" + ALNUM + "q1w2"
OPENAI_PROJECT = "sk-" + "proj-" + ALNUM + "_" + ALNUM + "-" + ALNUM
ANTHROPIC = "sk-" + "ant-api03-" + ALNUM + ALNUM + "-" + ALNUM[:20] + "AA"
OPENROUTER = "sk-" + "or-v1-" + "0123456789abcdef" * 4
GOOGLE = "AI" + "za" + "SyB1c2D3e4F5g6H7i8J9k0LmNoPqRsTuVwX"
GITHUB_CLASSIC = "gh" + "p_" + ALNUM
GITHUB_OAUTH = "gh" + "o_" + ALNUM
GITHUB_APP = "gh" + "s_" + ALNUM
GITHUB_FINE = "github" + "_pat_" + "11ABCDEFG0" + "123456789abc_" + ALNUM + ALNUM[:23]
GITLAB = "gl" + "pat-" + "Ab3dEf6hIj9kLmN0pQr2"
SLACK = "xo" + "xb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx"
AWS_KEY_ID = "AK" + "IA" + "IOSFODNN7EXAMPL3"
AWS_SESSION_KEY_ID = "AS" + "IA" + "Q3EGQ2XYZ7ABCD12"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"
STRIPE = "sk" + "_live_" + "51H8abcDEFghiJKLmnoPQRstu"
STRIPE_RESTRICTED = "rk" + "_live_" + "51H8abcDEFghiJKLmnoPQRstu"
HUGGINGFACE = "hf" + "_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"
JWT = (
    "ey" + "JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    + ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN " + "RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END " + "RSA PRIVATE KEY-----"
)

# (label, text containing the secret, the secret part)
TOKEN_CASES = [
    ("openai-key", f"client = OpenAI(api_key='{OPENAI_LEGACY}')", OPENAI_LEGACY),
    ("openai-key", f"using {OPENAI_PROJECT} for this run", OPENAI_PROJECT),
    ("anthropic-key", f"ANTHROPIC_API_KEY={ANTHROPIC}", ANTHROPIC),
    ("openrouter-key", f"key: {OPENROUTER}", OPENROUTER),
    ("google-api-key", f"https://generativelanguage.googleapis.com/v1?key={GOOGLE}", GOOGLE),
    ("github-token", f"git clone https://x-access-token@github.com/o/r ({GITHUB_CLASSIC})",
     GITHUB_CLASSIC),
    ("github-token", f"gh auth token -> {GITHUB_OAUTH}", GITHUB_OAUTH),
    ("github-token", f"installation token {GITHUB_APP} expires in 1h", GITHUB_APP),
    ("github-token", f"GH_TOKEN={GITHUB_FINE}", GITHUB_FINE),
    ("gitlab-token", f"PRIVATE-TOKEN: {GITLAB}", GITLAB),
    ("slack-token", f"SLACK_BOT={SLACK}", SLACK),
    ("aws-access-key-id", f"aws_access_key_id = {AWS_KEY_ID}", AWS_KEY_ID),
    ("aws-access-key-id", f'"AccessKeyId": "{AWS_SESSION_KEY_ID}",', AWS_SESSION_KEY_ID),
    ("aws-secret-key", f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
    ("aws-secret-key", f'"SecretAccessKey": "{AWS_SECRET}"', AWS_SECRET),
    ("aws-secret-key", f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET),
    ("stripe-key", f"stripe.api_key = '{STRIPE}'", STRIPE),
    ("stripe-key", f"restricted {STRIPE_RESTRICTED}", STRIPE_RESTRICTED),
    ("huggingface-token", f"HF_TOKEN={HUGGINGFACE}", HUGGINGFACE),
    ("jwt", f"cookie session={JWT}; Path=/", JWT),
    ("private-key", f"key file:\n{PEM}\n", PEM),
    ("bearer-token", "Authorization: Bearer abcdef1234567890ABCDEFxyz",
     "abcdef1234567890ABCDEFxyz"),
    ("bearer-token", "curl -H 'authorization: bearer 9f8e7d6c5b4a39281706f5e4'",
     "9f8e7d6c5b4a39281706f5e4"),
    ("basic-auth", "Authorization: Basic dXNlcjpodW50ZXIyMjI=", "dXNlcjpodW50ZXIyMjI="),
    ("url-password", "DATABASE_URL=postgres://app:s3cr3t-Passw0rd@db.internal:5432/prod",
     "s3cr3t-Passw0rd"),
    ("url-password", "redis://:hunter2hunter2@cache:6379/0", "hunter2hunter2"),
    ("password", "password=Tr0ub4dor&3", "Tr0ub4dor&3"),
    ("password", '{"user": "bob", "password": "correct horse battery staple"}',
     "correct horse battery staple"),
    ("password", "  DB_PASSWORD: 'x9!kk-22'", "x9!kk-22"),
    ("password", "https://site.example/login?user=bob&password=hunter22&next=/", "hunter22"),
    ("password", "export PGPASSWORD=s3cr3t", "s3cr3t"),
    ("secret", "SECRET_KEY=django-insecure-abc123xyz", "django-insecure-abc123xyz"),
    ("secret", '"client_secret": "Qm9vS2VlcGVyMTIz"', "Qm9vS2VlcGVyMTIz"),
    ("secret", "api_key: a1b2c3d4e5f6g7h8", "a1b2c3d4e5f6g7h8"),
]


@pytest.mark.parametrize(("label", "text", "secret"), TOKEN_CASES)
def test_token_formats_are_redacted(label: str, text: str, secret: str) -> None:
    redactor = Redactor()
    redacted = redactor.redact(text)
    assert secret not in redacted
    assert f"[REDACTED:{label}]" in redacted
    assert redactor.contains_secret(text)
    assert redactor.redact(redacted) == redacted  # idempotent


def test_context_around_a_secret_is_kept() -> None:
    redactor = Redactor()
    assert redactor.redact("GET /login?user=bob&password=hunter22&next=/home HTTP/1.1") == (
        "GET /login?user=bob&password=[REDACTED:password]&next=/home HTTP/1.1"
    )
    assert redactor.redact("https://x.test/cb?token=abc123def456&state=9\r\n") == (
        "https://x.test/cb?token=[REDACTED:secret]&state=9\r\n"
    )
    assert redactor.redact("postgres://app:s3cr3tPassw0rd@db:5432/prod") == (
        "postgres://app:[REDACTED:url-password]@db:5432/prod"
    )
    assert redactor.redact("Authorization: Bearer abcdef1234567890abcdef") == (
        "Authorization: Bearer [REDACTED:bearer-token]"
    )
    assert redactor.redact('{"password": "hunter2!", "user": "bob"}') == (
        '{"password": "[REDACTED:password]", "user": "bob"}'
    )
    assert redactor.redact(f"before\n{PEM}\nafter") == "before\n[REDACTED:private-key]\nafter"


def test_a_truncated_private_key_is_redacted_to_the_end() -> None:
    text = "cat key.pem\n" + PEM.split("-----END")[0]
    assert Redactor().redact(text) == "cat key.pem\n[REDACTED:private-key]"


def test_specific_labels_win_over_generic_ones() -> None:
    redactor = Redactor()
    assert redactor.redact(f"GITHUB_TOKEN={GITHUB_CLASSIC}") == (
        "GITHUB_TOKEN=[REDACTED:github-token]"
    )
    assert redactor.redact(f"Authorization: Bearer {OPENAI_LEGACY}") == (
        "Authorization: Bearer [REDACTED:openai-key]"
    )


# -- known values -----------------------------------------------------------------------------


def test_explicit_secrets_are_redacted() -> None:
    redactor = Redactor(["my-zai-key.0123456789"])
    assert redactor.redact("key is my-zai-key.0123456789!") == f"key is {REDACTED}!"
    assert redactor.contains_secret("xx my-zai-key.0123456789")
    assert not redactor.contains_secret("nothing here")


def test_longest_secret_wins_when_one_contains_another() -> None:
    redactor = Redactor(["abcdefgh12", "abcdefgh1234567"])
    assert redactor.redact("abcdefgh1234567 and abcdefgh12") == f"{REDACTED} and {REDACTED}"


def test_many_secrets() -> None:
    values = [f"value-{i:03d}-{ALNUM[: i % 20 + 2]}" for i in range(40)]
    redactor = Redactor(values)
    text = " ".join(values)
    assert redactor.redact(text) == " ".join([REDACTED] * 40)
    assert redactor.contains_secret(f"x {values[17]} y")
    assert not redactor.contains_secret("value-999")


def test_secrets_with_regex_characters() -> None:
    secret = "p@ss(w0rd)+[x]*?"
    assert Redactor([secret]).redact(f"a {secret} b") == f"a {REDACTED} b"


def test_short_secrets_are_ignored() -> None:
    redactor = Redactor(["abc", "", "  ", "1234567"])
    assert redactor.secret_count == 0
    assert redactor.redact("abc 1234567") == "abc 1234567"


def test_add_secret() -> None:
    redactor = Redactor(patterns=False)
    assert redactor.add_secret("  late-secret-value\n")
    assert not redactor.add_secret("late-secret-value")
    assert not redactor.add_secret("short")
    assert redactor.redact("x late-secret-value y") == f"x {REDACTED} y"
    assert "late-secret" not in repr(redactor)


def test_env_secrets_are_chosen_by_name() -> None:
    env = {
        "ZAI_API_KEY": "zai.9f8e7d6c5b4a3928",
        "MY_SERVICE_TOKEN": "tok-0123456789abcdef",
        "CLIENT_SECRET": "cs-0123456789",
        "DB_PASSWORD": "Pa55word-db",
        "ADMIN_PASS": "admin-pass-99",
        "LDAP_PWD": "ldap-pwd-0001",
        "GCP_CREDENTIALS_JSON": '{"type": "service_account"}',
        "DATABASE_URL": "postgresql://app:dbpa55word@db:5432/app",
        "REDIS_URL": "redis://:r3dis%40pass@cache:6379",
        # not secrets
        "EDITOR": "nano-editor-long-name",
        "HOME": "/home/someone/work",
        "FEATURE_KEY": "true",
        "MAX_TOKEN": "4096000000",
        "SHORT_KEY": "abc12",
        "SSH_KEY": "~/.ssh/id_ed25519",
        "PASSWORD_STORE_DIR": "/home/someone/.password-store",
        "OPENAI_BASE_URL": "https://api.openai.com/v1",
    }
    redactor = Redactor(env=env)
    for name in ("ZAI_API_KEY", "MY_SERVICE_TOKEN", "CLIENT_SECRET", "DB_PASSWORD", "ADMIN_PASS",
                 "LDAP_PWD", "GCP_CREDENTIALS_JSON"):
        assert redactor.redact(f"<{env[name]}>") == f"<{REDACTED}>", name
    assert redactor.redact("pw dbpa55word") == f"pw {REDACTED}"
    assert redactor.redact("r3dis@pass and r3dis%40pass") == f"{REDACTED} and {REDACTED}"
    for name in ("EDITOR", "HOME", "FEATURE_KEY", "MAX_TOKEN", "SHORT_KEY", "SSH_KEY",
                 "PASSWORD_STORE_DIR", "OPENAI_BASE_URL"):
        assert redactor.redact(f"<{env[name]}>") == f"<{env[name]}>", name


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("OPENAI_API_KEY", True), ("github_token", True), ("Aws_Secret_Access_Key", True),
        ("APP_SECRET", True), ("MYSQL_ROOT_PASSWORD", True), ("PASSWORD", True),
        ("SMTP_PASS", True), ("DB_PWD", True), ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("TOKEN", True), ("PATH", False), ("KEYBOARD_LAYOUT", False), ("PASSENGER", False),
        ("GIT_ASKPASS", False), ("TOKENIZERS_PARALLELISM", False), ("HOME", False),
    ],
)
def test_looks_secret_name(name: str, secret: bool) -> None:
    assert looks_secret_name(name) is secret


def test_configured_provider_keys_from_settings() -> None:
    from moco.config import secret_values

    env = {"OPENAI_API_KEY": "proxy-key-0123456789", "GEMINI_API_KEY": "short"}
    redactor = Redactor(secret_values(env))
    assert redactor.redact("key=proxy-key-0123456789") == f"key={REDACTED}"


# -- objects ---------------------------------------------------------------------------------


def test_redact_obj_on_nested_event_dicts() -> None:
    redactor = Redactor(["configured-key-123456"])
    event = {
        "type": "tool_call_finished",
        "agent": "orchestrator > coder",
        "result": f"token {GITHUB_CLASSIC}",
        "duration_ms": 12.5,
        "is_error": False,
        "message": {
            "role": "tool",
            "parts": [
                {"type": "tool_result", "content": "key=configured-key-123456", "name": "env"},
                {"type": "text", "text": "nothing secret"},
            ],
        },
        "extra": ("configured-key-123456", None, 3),
    }
    redacted = redactor.redact_obj(event)
    assert redacted["result"] == "token [REDACTED:github-token]"
    assert redacted["message"]["parts"][0]["content"] == f"key={REDACTED}"
    assert redacted["extra"] == (REDACTED, None, 3)
    assert redacted["duration_ms"] == 12.5 and redacted["is_error"] is False
    # untouched branches are shared, the input is not modified
    assert redacted["message"]["parts"][1] is event["message"]["parts"][1]  # type: ignore[index]
    assert event["result"] == f"token {GITHUB_CLASSIC}"


def test_redact_obj_returns_unchanged_objects_as_they_are() -> None:
    data = {"a": ["x", {"b": "plain text"}], "n": 1}
    assert Redactor().redact_obj(data) is data


def test_redact_obj_on_events_and_messages() -> None:
    redactor = Redactor()
    started = ToolCallStarted(agent="a", call_id="c1", name="shell",
                              arguments={"command": f"curl -u x:{STRIPE} https://api"})
    finished = ToolCallFinished(agent="a", call_id="c1", name="shell", result=JWT)
    new_started = redactor.redact_obj(started)
    assert isinstance(new_started, ToolCallStarted)
    assert STRIPE not in new_started.arguments["command"]
    assert redactor.redact_obj(finished).result == "[REDACTED:jwt]"
    assert started.arguments["command"].endswith("https://api")  # original untouched
    message = Message("assistant", [TextPart(f"use {GOOGLE}"),
                                    ToolCallPart(id="1", name="web", arguments={"k": GOOGLE})])
    new_message = redactor.redact_obj(message)
    assert new_message.text == "use [REDACTED:google-api-key]"
    assert new_message.tool_calls[0].arguments == {"k": "[REDACTED:google-api-key]"}
    assert redactor.redact_obj(new_message.to_dict()) == new_message.to_dict()


# -- no false positives ---------------------------------------------------------------------

PROSE = """\
The orchestrator hands each task to the agent best suited for it. Bearer tokens and API keys
are read once from the environment at start-up; the password prompt appears only when a
database needs one. Password: enter it twice when asked. Keys rotate every 90 days, and the
token budget (max 4096 tokens per turn) is enforced by the runtime. See https://example.com/docs
or email ops@example.com. The sk-learn style estimators and the risk-assessment-framework-2024
document describe the rest; secret santa is on Friday.
"""

PYTHON = '''\
import getpass
import os
from dataclasses import dataclass


@dataclass
class Credentials:
    username: str
    password: str
    token: str | None = None


def login(user: str, password: str | None = None) -> Credentials:
    """Ask for the password when none is given."""
    if password is None:
        password = getpass.getpass("Password: ")
    if password == "":
        raise ValueError("empty password")
    token = os.environ.get("SERVICE_TOKEN")
    api_key = settings.API_KEY
    secret = load_secret(name="db")
    password = password.strip()
    hashed = hash_password(password, rounds=12)
    headers = {"Authorization": f"Bearer {token}"}
    url = f"postgresql://{user}:{password}@localhost/app"
    max_tokens = 4096
    return Credentials(username=user, password=hashed, token=token)
'''

GIT_LOG = """\
commit 3f2a9c1b7e4d5f60718293a4b5c6d7e8f9012345
Merge: 1a2b3c4 5d6e7f8
Author: Jane Doe <jane@example.com>
Date:   Tue Mar 4 10:12:44 2025 +0100

    Rotate the API key handling; redact tokens in logs (#482)

    Signed-off-by: Jane Doe <jane@example.com>
    Change-Id: I8f2c0d5e7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d

 src/moco/config.py              | 12 ++++++------
 src/moco/safety/redaction.py    | 88 +++++++++++++++++++++++++++++
 2 files changed, 94 insertions(+), 6 deletions(-)
"""

IDENTIFIERS = """\
sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
9f86d081884c7d659a2feaa0c55ad015a3bf4f1b
request 123e4567-e89b-12d3-a456-426614174000 took 12 ms
session_id=6f1c2e3a-0b4d-4c5e-8f9a-0b1c2d3e4f5a
data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk
PWD=/home/someone/project
OLDPWD=/home/someone
PASSWORD_MIN_LENGTH=12
password: ${DB_PASSWORD}
password = "<your password>"
token: "****************"
postgresql://user:password@localhost/app
"""


@pytest.mark.parametrize("text", [PROSE, PYTHON, GIT_LOG, IDENTIFIERS],
                         ids=["prose", "python", "git-log", "identifiers"])
def test_no_false_positives(text: str) -> None:
    redactor = Redactor()
    assert redactor.redact(text) == text
    assert not redactor.contains_secret(text)


def test_empty_text() -> None:
    assert Redactor(["secret-value-1"]).redact("") == ""
    assert not Redactor().contains_secret("")


# -- extra patterns --------------------------------------------------------------------------


def test_extra_patterns() -> None:
    redactor = Redactor(patterns=False,
                        extra_patterns=[r"ACME-[0-9]{6}", r"pin=(?P<secret>\d{4})"])
    assert redactor.redact("ACME-123456 pin=1234") == f"{REDACTED} pin={REDACTED}"
    assert redactor.contains_secret("ACME-000000")
    assert redactor.redact(f"{GITHUB_CLASSIC}") == GITHUB_CLASSIC  # patterns off


def test_invalid_extra_pattern() -> None:
    with pytest.raises(ValueError, match="invalid redaction pattern"):
        Redactor(extra_patterns=["(unclosed"])


# -- large and pathological inputs (their speed is measured by bench/redaction.py) ----------


def test_one_megabyte_without_secrets_is_unchanged() -> None:
    chunk = PROSE + PYTHON + GIT_LOG + IDENTIFIERS
    text = (chunk * (1_000_000 // len(chunk) + 1))[:1_000_000]
    redactor = Redactor([OPENAI_PROJECT, "configured-key-123456"])
    assert redactor.redact(text) == text


@pytest.mark.parametrize("text", ["token=" * 50_000, "password=" * 50_000, "sk-" * 100_000,
                                  "http://" + "a:" * 100_000, '"password": "' * 30_000],
                         ids=["token=", "password=", "sk-", "http-a:", "json-password"])
def test_pathological_inputs_finish(text: str) -> None:
    """Finishing is the check: runaway backtracking on repeated prefixes of secret patterns
    shows as a hanging test here and as a jump in bench/redaction.py."""
    assert isinstance(Redactor().redact(text), str)


# -- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [".env", ".env.local", ".env.production", "config/prod.env", ".envrc", "~/.netrc",
     "/home/u/.pgpass", "/home/u/.aws/credentials", ".git-credentials", "certs/server.pem",
     "tls/server.key", "id_rsa", "/home/u/.ssh/id_ed25519", "id_rsa_work", ".npmrc", ".pypirc",
     "ENV/.ENV", Path("deploy") / "cert.p12"],
)
def test_env_like_files(path: str | Path) -> None:
    assert is_env_like_file(path)


@pytest.mark.parametrize(
    "path",
    [".env.example", ".env.sample", ".env.template", "environment.py", "envs/README.md",
     "id_rsa.pub", "/home/u/.ssh/id_ed25519.pub", "credentials.py", "src/keys.py",
     "docs/tokens.md", "venv", ".environment"],
)
def test_ordinary_files(path: str) -> None:
    assert not is_env_like_file(path)
