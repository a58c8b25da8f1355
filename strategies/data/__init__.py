"""Data shipped with the library: the demo text set (see ``make_demo.py``)."""

from pathlib import Path

DEMO_TEXT_CSV = Path(__file__).with_name("demo_text.csv")
