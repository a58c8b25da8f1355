"""A project's guidelines, Markdown rendered to HTML that is safe to put in a page.

Two locks: markdown-it renders with raw HTML off (a `<script>` in the text comes out
as text), and nh3 (the Ammonia sanitiser) then keeps only an allowlist of tags,
attributes and URL schemes, so nothing a lead types can run in an annotator's browser
or restyle the page. The Content-Security-Policy is the third.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

TAGS = {
    *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code"),
    *("em", "strong", "del", "s", "kbd", "ul", "ol", "li", "a", "img"),
    *("table", "thead", "tbody", "tr", "th", "td"),
}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


@lru_cache(maxsize=256)
def markdown_html(text: str) -> str:
    """`text` as sanitised HTML ("" for blank text). Cached: the same guidelines are
    rendered for every item an annotator is shown."""
    if not text.strip():
        return ""
    html = _markdown().render(text)
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES)
