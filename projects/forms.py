"""Forms for project pages; they only shape input, services do the checking."""

from __future__ import annotations

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


def stopping_rules() -> dict[str, Any]:
    from strategies.stopping import RULES

    return RULES


# Parameters a lead may tune per rule, beyond each rule's defaults (budget in seconds).
EXTRA_RULE_PARAMS = {"budget": {"seconds": None}}


class ProjectSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    labels = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), help_text=LABELS_HELP)
    batch_size = forms.IntegerField(min_value=1, max_value=10_000, initial=20)
    strategy = forms.ChoiceField(choices=strategy_choices)
    selector = forms.ChoiceField(choices=selector_choices, label="Batch selector")
    overlap = forms.IntegerField(
        min_value=1, max_value=20, initial=1, help_text="Annotators per item."
    )
    agreement_fraction = forms.FloatField(
        min_value=0, max_value=1, initial=0, help_text="Share of items labelled by more annotators."
    )
    agreement_overlap = forms.IntegerField(min_value=1, max_value=20, initial=2)
    consensus_method = forms.ChoiceField(
        choices=[
            ("majority", "majority vote"),
            ("weighted", "confidence-weighted vote"),
            ("dawid_skene", "Dawid–Skene (EM over annotator confusion)"),
        ]
    )
    consensus_threshold = forms.FloatField(
        min_value=0,
        max_value=1,
        initial=0.5,
        help_text="Least vote share (or Dawid–Skene posterior) a label needs; else review.",
    )
    gold_fraction = forms.FloatField(
        min_value=0,
        max_value=0.5,
        initial=0,
        help_text="Share of hand-outs that are gold items (set gold labels through the API).",
    )
    holdout_fraction = forms.FloatField(
        min_value=0,
        max_value=0.9,
        initial=0.2,
        help_text="Share of each batch drawn at random for evaluation.",
    )
    stream_budget = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        help_text="Stream mode: share of arrivals sent to a human.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, info in stopping_rules().items():
            self.fields[f"stop_{name}"] = forms.BooleanField(
                required=False, label=f"Stop rule: {name}", help_text=info.description
            )
            params = {**info.defaults, **EXTRA_RULE_PARAMS.get(name, {})}
            for param, default in params.items():
                self.fields[f"stop_{name}__{param}"] = forms.FloatField(
                    required=False,
                    initial=default,
                    label=f"{name}: {param}",
                    help_text="leave empty to not use" if default is None else "",
                )

    def clean_labels(self) -> list[str]:
        raw = self.cleaned_data["labels"].replace(",", "\n")
        return [line.strip() for line in raw.splitlines() if line.strip()]

    def clean(self) -> dict[str, Any]:
        """Gather the enabled rules with their parameters into `stopping`."""
        data = super().clean() or {}
        rules = []
        for name in stopping_rules():
            if not data.pop(f"stop_{name}", False):
                continue
            rule: dict[str, Any] = {"rule": name}
            prefix = f"stop_{name}__"
            for key in [k for k in data if k.startswith(prefix)]:
                value = data.pop(key)
                if value is not None:
                    rule[key.removeprefix(prefix)] = int(value) if value.is_integer() else value
            rules.append(rule)
        data = {k: v for k, v in data.items() if not k.startswith("stop_")}
        data["stopping"] = rules
        return data

    @classmethod
    def initial_for(cls, project: Project) -> dict[str, Any]:
        return {
            "name": project.name,
            "labels": "\n".join(project.labels),
            "batch_size": project.batch_size,
            "strategy": project.strategy,
            "selector": project.selector,
            "overlap": project.overlap,
            "agreement_fraction": project.agreement_fraction,
            "agreement_overlap": project.agreement_overlap,
            "consensus_method": project.consensus_method,
            "consensus_threshold": project.consensus_threshold,
            "gold_fraction": project.gold_fraction,
            "holdout_fraction": project.holdout_fraction,
            "stream_budget": project.stream_budget,
            **cls.stopping_initial(project.stopping),
        }

    @staticmethod
    def stopping_initial(rules: list[dict[str, Any]]) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for rule in rules:
            initial[f"stop_{rule['rule']}"] = True
            for key, value in rule.items():
                if key != "rule":
                    initial[f"stop_{rule['rule']}__{key}"] = value
        return initial


class ProjectCreateForm(ProjectSettingsForm):
    kind = forms.ChoiceField(choices=Project.Kind.choices, initial="text")
    field_order = ["name", "kind", "labels"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from strategies.defaults import DEFAULT_SELECTOR, DEFAULT_STRATEGY

        super().__init__(*args, **kwargs)
        self.fields["strategy"].initial = DEFAULT_STRATEGY
        self.fields["selector"].initial = DEFAULT_SELECTOR


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV (text,label,…) or JSONL (text/features, label, meta); "
        "ZIP of images for image projects."
    )


class MemberForm(forms.Form):
    username = forms.CharField()
    role = forms.ChoiceField(
        choices=[("annotator", "annotator"), ("reviewer", "reviewer"), ("lead", "lead")]
    )
