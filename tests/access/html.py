"""Finding inline code in a page: what a strict Content-Security-Policy would block."""

from __future__ import annotations

from html.parser import HTMLParser

# Script types that are data, not code: the browser never runs them (json_script).
DATA_SCRIPTS = {"application/json", "application/ld+json"}


class _InlineFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and "src" not in named and named.get("type") not in DATA_SCRIPTS:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> block")
        for attr, value in attrs:
            if attr == "style":
                self.found.append(f'style="{value}" on <{tag}>')
            elif attr.startswith("on"):
                self.found.append(f'{attr}="{value}" on <{tag}>')
            elif value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"{attr}=javascript: on <{tag}>")


def inline_code(html: str) -> list[str]:
    """Inline scripts, style blocks, style attributes and event-handler attributes."""
    finder = _InlineFinder()
    finder.feed(html)
    return finder.found
