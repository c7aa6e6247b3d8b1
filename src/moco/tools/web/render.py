"""What a fetched body becomes for the model: HTML as Markdown (``markdownify`` over
BeautifulSoup), JSON pretty-printed, PDF as its text (``pypdf``), text as it is.

HTML loses what a reader never sees (scripts, styles, ``<head>`` but its title, SVG,
iframes) and images (their URLs cost tokens and tell little); when the page has one
``<main>``, only it is kept, under the page title. Relative links become absolute, so the
model can fetch them next.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import re
from urllib.parse import urljoin

from moco.errors import ToolError
from moco.tools.web.fetch import Fetched

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({
    "application/xml", "application/javascript", "application/x-javascript",
    "application/ecmascript", "application/x-yaml", "application/yaml", "application/toml",
    "application/x-sh", "application/sql", "application/graphql", "application/x-ndjson",
})  # fmt: skip
DROPPED_TAGS = ("script", "style", "noscript", "template", "svg", "canvas", "iframe",
                "object", "embed", "head", "img", "picture", "video", "audio", "source")
#: HTML beyond this is not converted: the pure-Python parser and converter take ~5 ms per kB
HTML_LIMIT = 1_000_000
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")
_TRAILING = re.compile(r"[ \t]+\n")


def render(fetched: Fetched) -> tuple[str, str]:
    """``(text, how)``: the body as text for the model, and what was done to it."""
    media, body = fetched.media_type, fetched.body
    head = body[:1024].lstrip().lower()
    if media in HTML_TYPES or (not media and head.startswith((b"<!doctype html", b"<html"))):
        how = "Markdown"
        if len(body) > HTML_LIMIT:
            body, how = body[:HTML_LIMIT], f"Markdown of its first {HTML_LIMIT} bytes"
        return html_to_markdown(body, fetched.charset, fetched.url), how
    if media == "application/json" or media.endswith("+json"):
        return pretty_json(decode(body, fetched.charset)), "JSON"
    if media == "application/pdf" or body.startswith(b"%PDF-"):
        return pdf_text(body, fetched.cut), "text of the PDF"
    if media.startswith("text/") or media in TEXT_TYPES or media.endswith("+xml"):
        return decode(body, fetched.charset), "text"
    if b"\0" not in body[:4096]:
        try:
            return body.decode("utf-8"), "text"
        except UnicodeDecodeError:
            pass
    raise ToolError(f"{fetched.url} is {media or 'binary data'} ({len(body)} bytes read); "
                    "web_fetch shows HTML, text, JSON and PDF only")


def decode(body: bytes, charset: str | None) -> str:
    encoding = "utf-8"
    if charset:
        with contextlib.suppress(LookupError):
            encoding = codecs.lookup(charset).name
    return body.decode(encoding, errors="replace")


def pretty_json(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text  # as it came: cut in the middle, or not JSON after all
    return json.dumps(data, indent=1, ensure_ascii=False)


def html_to_markdown(body: bytes, charset: str | None, base_url: str) -> str:
    from bs4 import BeautifulSoup
    from bs4.element import Tag
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(body, "html.parser", from_encoding=charset)
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text().split()) if title_tag is not None else ""
    for tag in soup.find_all(DROPPED_TAGS):
        tag.decompose()
    for link in soup.find_all("a"):
        if not isinstance(link, Tag):
            continue
        href = link.get("href")
        if not isinstance(href, str) or href.startswith(("#", "javascript:")):
            link.unwrap()
        else:
            link["href"] = urljoin(base_url, href)
    mains = soup.find_all("main")
    root = mains[0] if len(mains) == 1 else soup
    converter = MarkdownConverter(heading_style="ATX", bullets="-", escape_underscores=False,
                                  escape_asterisks=False)
    text = converter.convert_soup(root)
    text = _BLANK_LINES.sub("\n\n", _TRAILING.sub("\n", text)).strip()
    if title and not text.startswith(f"# {title}\n"):
        text = f"# {title}\n\n{text}"
    return text


def pdf_text(body: bytes, cut: bool) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(body))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, IndexError, TypeError) as error:
        if cut:
            raise ToolError("the PDF is larger than web max_bytes, and a partial PDF cannot "
                            "be read; the user can raise MOCO_WEB_MAX_BYTES") from None
        raise ToolError(f"cannot read the PDF: {error}") from None
    text = "\n\n".join(f"[page {n}]\n{page}" for n, page in enumerate(pages, 1) if page)
    return text or f"(the PDF has {len(pages)} pages but no extractable text; scanned?)"
