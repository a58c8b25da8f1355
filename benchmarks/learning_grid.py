"""What the multi-label and spans sections of the learning benchmark share: the grid of
(repeat, corpus, contender) runs, its summary and its table.

Each section supplies `one_run(corpus, repeat, contender, seed_offset) -> row`; a row
carries `corpus`, `repeat`, `contender`, `to99` (cost to 99% of the full-pool score, or
None if never reached), the cost of the whole pool under `pool_key`, `auc` and `seconds`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed

Row = dict[str, Any]
Summary = dict[tuple[str, str], dict[str, Any]]


@dataclass(frozen=True)
class Section:
    """One task kind's way of naming and counting its cost."""

    pool_key: str  # the row's cost of labelling the whole pool (`to99` when never reached)
    unit: str  # "labels" or "tokens"
    title: Callable[[str, dict[str, dict[str, Any]]], str]  # a corpus's heading
    means: tuple[str, ...] = ()  # further row fields averaged into the summary


def complete(rows: list[Row]) -> list[Row]:
    """Only the (corpus, repeat) cells every contender finished: fair means part way."""
    names = {r["contender"] for r in rows}
    cells = {(r["corpus"], r["repeat"]) for r in rows}
    done = {
        cell
        for cell in cells
        if {r["contender"] for r in rows if (r["corpus"], r["repeat"]) == cell} == names
    }
    return [r for r in rows if (r["corpus"], r["repeat"]) in done]


def summarise(rows: list[Row], section: Section) -> Summary:
    """Mean cost to 99% (a run that never got there counts as the whole pool), AUC ± sd."""
    rows = complete(rows)
    out: Summary = {}
    for key in sorted({(r["corpus"], r["contender"]) for r in rows}):
        mine = [r for r in rows if (r["corpus"], r["contender"]) == key]
        aucs = [r["auc"] for r in mine]
        costs = [r["to99"] if r["to99"] is not None else r[section.pool_key] for r in mine]
        out[key] = {
            "to99": float(np.mean(costs)),
            "never": sum(r["to99"] is None for r in mine),
            "auc": float(np.mean(aucs)),
            "auc_sd": float(np.std(aucs)),
            "repeats": len(mine),
            "seconds": float(np.mean([r["seconds"] for r in mine])),
            **{field: float(np.mean([r[field] for r in mine])) for field in section.means},
        }
    return out


def print_table(summary: Summary, section: Section) -> None:
    """Per corpus: each contender's cost to 99%, its ratio to random's, its AUC; then the
    default against the best other, and the default against random over all corpora."""
    ratios = []
    for corpus in sorted({c for c, _ in summary}):
        cells = {name: s for (c, name), s in summary.items() if c == corpus}
        random_to99 = cells["random"]["to99"] if "random" in cells else float("nan")
        others = [n for n in cells if n not in ("default", "random")]
        best = min(others, key=lambda n: cells[n]["to99"]) if others else None
        print(f"\n{section.title(corpus, cells)}")
        print(f"{'contender':30s} {'to99':>10s} {'xrandom':>8s} {'AUC':>15s} {'s/run':>7s}")
        for name, s in sorted(cells.items(), key=lambda kv: kv[1]["to99"]):
            mark = ">" if s["never"] else " "
            print(
                f"{name:30s} {mark}{s['to99']:9.0f} {s['to99'] / random_to99:8.2f} "
                f"{s['auc']:7.4f}±{s['auc_sd']:.4f} {s['seconds']:7.1f}"
            )
        if "default" in cells and "random" in cells:
            ratios.append(cells["default"]["to99"] / random_to99)
        if best and "default" in cells:
            print(
                f"default / best other ({best}): "
                f"{cells['default']['to99'] / cells[best]['to99']:.2f}x {section.unit}"
            )
    if ratios:
        print(
            f"\ndefault / random {section.unit} to 99%, mean over corpora: {np.mean(ratios):.2f}x"
        )


def main(
    argv: list[str] | None,
    *,
    doc: str | None,
    corpora: list[str],
    contenders: list[str],
    one_run: Callable[[str, int, str, int], Row],
    section: Section,
    check: Callable[[str], object] = lambda name: None,
) -> int:
    """The command line both sections share: run the grid (or only summarise a --json)."""
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--corpora", default=",".join(corpora))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--contenders", default=",".join(contenders))
    p.add_argument("--seed-offset", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--json", type=Path, default=None, help="raw runs, rewritten as they end")
    p.add_argument("--summarise", type=Path, default=None, help="only print the table of a --json")
    a = p.parse_args(argv)
    if a.summarise:
        print_table(summarise(json.loads(a.summarise.read_text()), section), section)
        return 0
    names = a.contenders.split(",")
    for name in names:
        check(name)  # refuse an unknown contender before hours of runs
    # repeat-major, so that a run cut short still has every corpus and contender
    jobs = [(c, r, n) for r in range(a.repeats) for c in a.corpora.split(",") for n in names]
    started = time.perf_counter()
    rows = []
    for row in Parallel(n_jobs=a.jobs, return_as="generator")(
        delayed(one_run)(c, r, n, a.seed_offset) for c, r, n in jobs
    ):
        rows.append(row)
        if a.json:  # written as runs finish: a long run can be summarised part way
            a.json.write_text(json.dumps(rows, indent=1))
    print_table(summarise(rows, section), section)
    print(f"\n{len(rows)} runs in {time.perf_counter() - started:.0f}s")
    return 0
