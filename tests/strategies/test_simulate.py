from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from strategies.data import DEMO_TEXT_CSV
from strategies.metrics import labels_to_reach, learning_curve_auc
from strategies.simulate import main, resolve

ROOT = Path(__file__).resolve().parents[2]


def _check_contract(doc: dict, strategies: list[str], repeats: int, budget: int) -> None:
    assert isinstance(doc["full_accuracy"], float) and 0.0 <= doc["full_accuracy"] <= 1.0
    assert len(doc["runs"]) == len(strategies) * repeats
    assert sorted({(r["strategy"], r["repeat"]) for r in doc["runs"]}) == sorted(
        (s, i) for s in strategies for i in range(repeats)
    )
    for run in doc["runs"]:
        assert isinstance(run["strategy"], str) and isinstance(run["repeat"], int)
        labels = [p["labels"] for p in run["curve"]]
        assert labels == sorted(labels) and labels[-1] == budget
        for point in run["curve"]:
            assert isinstance(point["labels"], int)
            assert 0.0 <= point["accuracy"] <= 1.0 and 0.0 <= point["macro_f1"] <= 1.0
        for stop in run["stops"]:
            assert {"rule", "labels", "accuracy"} <= set(stop)
            assert stop["labels"] in labels
        assert "budget" in {s["rule"] for s in run["stops"]}


def test_main_writes_the_contract_json(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    argv = [
        "--sklearn",
        "iris",
        "--strategy",
        "margin",
        "--strategy",
        "default",
        "--strategy",
        "random+cluster",
        "--batch-size",
        "5",
        "--seed-size",
        "3",
        "--budget",
        "23",
        "--repeats",
        "2",
        "--random-state",
        "1",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    _check_contract(doc, ["margin", "default", "random+cluster"], 2, 23)
    assert doc["runs"][0]["curve"][0]["labels"] == 3
    assert [p["labels"] for p in doc["runs"][0]["curve"]] == [3, 8, 13, 18, 23]
    assert doc["full_accuracy"] > 0.85
    # Same split and seed set for every strategy of a repeat.
    firsts = {r["curve"][0]["accuracy"] for r in doc["runs"] if r["repeat"] == 0}
    assert len(firsts) == 1


def test_main_is_deterministic(tmp_path: Path) -> None:
    argv = [
        "--sklearn",
        "wine",
        "--strategy",
        "entropy+kcenter",
        "--budget",
        "30",
        "--repeats",
        "1",
    ]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    main([*argv, "--out", str(a)])
    main([*argv, "--out", str(b)])
    curve = [json.loads(p.read_text())["runs"][0]["curve"] for p in (a, b)]
    assert curve[0] == curve[1]


def test_module_runs_as_a_command_on_text_csv() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "strategies.simulate",
            "--data",
            str(DEMO_TEXT_CSV),
            "--strategy",
            "default",
            "--budget",
            "30",
            "--repeats",
            "1",
            "--batch-size",
            "10",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    doc = json.loads(done.stdout)
    _check_contract(doc, ["default"], 1, 30)
    assert doc["full_accuracy"] > 0.7


def test_jsonl_features_file(tmp_path: Path) -> None:
    data = tmp_path / "vectors.jsonl"
    rows = [
        {"features": [i % 2 * 5.0 + (i % 7) / 10, (i % 3) / 10], "label": f"c{i % 2}"}
        for i in range(60)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out.json"
    assert (
        main(
            [
                "--data",
                str(data),
                "--strategy",
                "entropy",
                "--budget",
                "20",
                "--repeats",
                "1",
                "--seed-size",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    doc = json.loads(out.read_text())
    assert doc["full_accuracy"] == 1.0 and doc["runs"][0]["curve"][-1]["accuracy"] == 1.0


def test_unknown_strategy_is_an_error() -> None:
    with pytest.raises(ValueError):
        resolve("telepathy")
    assert main(["--sklearn", "iris", "--strategy", "margin+nope", "--repeats", "1"]) == 2


def test_curve_summaries() -> None:
    curve = [
        {"labels": 10, "accuracy": 0.5},
        {"labels": 20, "accuracy": 0.7},
        {"labels": 30, "accuracy": 0.9},
    ]
    assert learning_curve_auc(curve) == pytest.approx(0.7)
    assert labels_to_reach(curve, 0.7) == 20
    assert labels_to_reach(curve, 0.95) is None
