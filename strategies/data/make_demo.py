"""Build ``demo_text.csv``: real docstrings of Python's standard library, labelled by topic.

Every row is the docstring of a module, class or function from the CPython standard
library of the interpreter that runs this script (no download), and its label is the
documented area of the library that the code belongs to (e.g. ``tkinter`` -> ``gui``).
The topics are those of the Python Library Reference's chapters. Run:

    python -m strategies.data.make_demo

The committed CSV was made with CPython 3.11.7.
"""

from __future__ import annotations

import ast
import csv
import random
import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path

OUT = Path(__file__).with_name("demo_text.csv")
MAX_PER_LABEL = 600
MIN_CHARS = 40
MAX_CHARS = 600
SEED = 20140101

# Library Reference chapter of each top-level package or module.
TOPICS: dict[str, tuple[str, ...]] = {
    "gui": ("tkinter", "turtle", "turtledemo"),
    "networking": (
        "http",
        "urllib",
        "imaplib",
        "nntplib",
        "smtplib",
        "poplib",
        "ftplib",
        "socket",
        "socketserver",
        "ssl",
        "xmlrpc",
        "wsgiref",
        "ipaddress",
    ),
    "concurrency": (
        "asyncio",
        "multiprocessing",
        "threading",
        "concurrent",
        "queue",
        "subprocess",
        "selectors",
        "sched",
    ),
    "email": ("email", "mailbox", "smtpd", "mailcap", "mimetypes"),
    "numbers": (
        "_pydecimal",
        "datetime",
        "_strptime",
        "statistics",
        "fractions",
        "random",
        "numbers",
        "calendar",
        "_pydatetime",
    ),
    "testing": (
        "unittest",
        "doctest",
        "pdb",
        "bdb",
        "trace",
        "cProfile",
        "profile",
        "pstats",
        "timeit",
        "tracemalloc",
    ),
    "files": (
        "tarfile",
        "zipfile",
        "pathlib",
        "shutil",
        "gzip",
        "bz2",
        "lzma",
        "tempfile",
        "glob",
        "fnmatch",
        "filecmp",
        "zipimport",
        "fileinput",
        "_compression",
    ),
}
LABEL_OF = {module: label for label, modules in TOPICS.items() for module in modules}
SKIPPED_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages"}


def _docstrings(path: Path) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc:
                yield doc


def _clean(doc: str) -> str:
    text = re.sub(r"\s+", " ", doc).strip()
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS].rsplit(" ", 1)[0]


def collect(stdlib: Path) -> list[tuple[str, str]]:
    """(text, label) pairs from the standard library under ``stdlib``, deduplicated."""
    rows: dict[str, str] = {}
    for path in sorted(stdlib.rglob("*.py")):
        parts = path.relative_to(stdlib).parts
        label = LABEL_OF.get(parts[0].removesuffix(".py"))
        if label is None or SKIPPED_DIRS & set(parts):
            continue
        for doc in _docstrings(path):
            text = _clean(doc)
            if len(text) >= MIN_CHARS:
                rows.setdefault(text, label)
    return list(rows.items())


def main() -> None:
    rng = random.Random(SEED)
    rows = collect(Path(sysconfig.get_paths()["stdlib"]))
    rng.shuffle(rows)
    kept: list[tuple[str, str]] = []
    for label in TOPICS:
        kept += [r for r in rows if r[1] == label][:MAX_PER_LABEL]
    rng.shuffle(kept)
    with OUT.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(kept)
    print(f"wrote {len(kept)} rows to {OUT}")


if __name__ == "__main__":
    main()
