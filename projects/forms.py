"""Forms for project pages; they only shape input, services do the checking."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from projects.models import Project

LABELS_HELP = "One label per line, in key order (key 1 is the first label)."


def strategy_choices() -> list[tuple[str, str]]:
    from strategies.query import STRATEGIES

    return [(name, f"{name} — {info.description}") for name, info in STRATEGIES.items()]


def selector_choices() -> list[tuple[str, str]]:
    from strategies.selection import SELECTORS

    return [(name, f"{name} — {preset.description}") for name, preset in SELECTORS.items()]


def rule_help() -> str:
    from strategies.stopping import RULES

    return "; ".join(f"{name}: {info.description} (e.g. {info.defaults})" for name, info in RULES.items())


class ProjectSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    labels = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), help_text=LABELS_HELP)
    batch_size = forms.IntegerField(min_value=1, max_value=10_000, initial=20)
    strategy = forms.ChoiceField(choices=strategy_choices)
    selector = forms.ChoiceField(choices=selector_choices, label="Batch selector")
    overlap = forms.IntegerField(min_value=1, max_value=20, initial=1,
                                 help_text="Annotators per item.")
    agreement_fraction = forms.FloatField(min_value=0, max_value=1, initial=0,
                                          help_text="Share of items labelled by more annotators.")
    agreement_overlap = forms.IntegerField(min_value=1, max_value=20, initial=2)
    consensus_method = forms.ChoiceField(choices=[
        ("majority", "majority vote"), ("weighted", "confidence-weighted vote"),
        ("dawid_skene", "Dawid–Skene (EM over annotator confusion)"),
    ])
    holdout_fraction = forms.FloatField(min_value=0, max_value=0.9, initial=0.2,
                                        help_text="Share of each batch drawn at random for evaluation.")
    stopping = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text="JSON list of rules, e.g. [{\"rule\": \"plateau\", \"epsilon\": 0.005, \"window\": 3}]",
    )
    stream_budget = forms.FloatField(required=False, min_value=0, max_value=1,
                                     help_text="Stream mode: share of arrivals sent to a human.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stopping"].help_text += ". Rules: " + rule_help()

    def clean_labels(self) -> list[str]:
        raw = self.cleaned_data["labels"].replace(",", "\n")
        return [line.strip() for line in raw.splitlines() if line.strip()]

    def clean_stopping(self) -> list[dict[str, Any]]:
        text = (self.cleaned_data.get("stopping") or "").strip()
        if not text:
            return []
        try:
            rules = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}") from None
        if not isinstance(rules, list):
            raise forms.ValidationError("Give a JSON list of rules.")
        return rules

    @classmethod
    def initial_for(cls, project: Project) -> dict[str, Any]:
        return {
            "name": project.name, "labels": "\n".join(project.labels),
            "batch_size": project.batch_size, "strategy": project.strategy,
            "selector": project.selector, "overlap": project.overlap,
            "agreement_fraction": project.agreement_fraction,
            "agreement_overlap": project.agreement_overlap,
            "consensus_method": project.consensus_method,
            "holdout_fraction": project.holdout_fraction,
            "stopping": json.dumps(project.stopping), "stream_budget": project.stream_budget,
        }


class ProjectCreateForm(ProjectSettingsForm):
    kind = forms.ChoiceField(choices=Project.Kind.choices, initial="text")
    field_order = ["name", "kind", "labels"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from strategies.defaults import DEFAULT_SELECTOR, DEFAULT_STRATEGY

        super().__init__(*args, **kwargs)
        self.fields["strategy"].initial = DEFAULT_STRATEGY
        self.fields["selector"].initial = DEFAULT_SELECTOR


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV (text,label,…) or JSONL (text/features, label, meta); "
                                     "ZIP of images for image projects.")


class MemberForm(forms.Form):
    username = forms.CharField()
    role = forms.ChoiceField(choices=[("annotator", "annotator"), ("reviewer", "reviewer"),
                                      ("lead", "lead")])
