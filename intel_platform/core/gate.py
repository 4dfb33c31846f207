"""The one promotion gate every product's models pass before they serve.

A logged model (``challenger``, see ``intel_platform.core.registry``) is served only if it beat
the seasonal-naive baseline and the current champion on the same backtest metric by a margin.
The rule lives here, once, so ``champion`` means the same thing in every product and every
verdict leaves the same ``gate.*`` tags on its model version (the reason a version serves, and
the champion it replaced, which ``rollback`` walks back). Deciding (``promotion_gate``) is pure;
recording the verdict and moving aliases (``apply_gate``) needs MLflow, as does the glue that
does both after logging a run (``register_and_gate``).
"""

__all__ = [
    "GateDecision",
    "GatedVersion",
    "apply_gate",
    "is_refit",
    "promotion_gate",
    "register_and_gate",
]

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intel_platform.core.registry import (
    CHAMPION,
    PREVIOUS_CHAMPION,
    MlflowTarget,
    RegisteredVersion,
    TrainingRun,
    champion,
    log_training_run,
    mlflow_client,
    model_aliases,
)


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict with its numbers; ``vs_*`` are relative improvements (0.05 = 5 %
    better, whatever the metric's direction), ``None`` when there is no champion."""

    promoted: bool
    reason: str
    metric: str
    lower_is_better: bool
    margin: float
    challenger: float
    baseline: float
    champion: float | None
    vs_baseline: float
    vs_champion: float | None

    def as_tags(self) -> dict[str, str]:
        """The decision as model-version tags, so the registry shows why a version serves."""
        tags = {
            "gate.promoted": str(self.promoted).lower(),
            "gate.reason": self.reason,
            "gate.metric": self.metric,
            "gate.margin": f"{self.margin:g}",
            f"gate.challenger.{self.metric}": f"{self.challenger:.6g}",
            f"gate.baseline.{self.metric}": f"{self.baseline:.6g}",
        }
        if self.champion is not None:
            tags[f"gate.champion.{self.metric}"] = f"{self.champion:.6g}"
        return tags


def _improvement(challenger: float, reference: float, lower_is_better: bool) -> float:
    """Relative improvement of challenger over reference; a zero reference is beaten by any
    strict improvement (inf) and never by a tie (0)."""
    gain = reference - challenger if lower_is_better else challenger - reference
    if reference == 0:
        return math.copysign(math.inf, gain) if gain else 0.0
    return gain / abs(reference)


def _metric(metrics: Mapping[str, float], metric: str, who: str) -> float:
    if metric not in metrics:
        raise ValueError(f"{who} has no {metric!r} metric (has {sorted(metrics)})")
    return float(metrics[metric])


def promotion_gate(
    challenger_metrics: Mapping[str, float],
    champion_metrics: Mapping[str, float] | None,
    baseline_metrics: Mapping[str, float],
    *,
    metric: str,
    margin: float,
    lower_is_better: bool = True,
) -> GateDecision:
    """Promote only a challenger that beats the baseline AND the champion (if any) on the same
    backtest metric by at least ``margin`` (relative, and strictly: a tie keeps the model we
    already trust). A NaN metric never passes (comparisons with NaN are false)."""
    mine = _metric(challenger_metrics, metric, "challenger")
    base = _metric(baseline_metrics, metric, "baseline")
    champ = None if champion_metrics is None else _metric(champion_metrics, metric, "champion")
    vs_base = _improvement(mine, base, lower_is_better)
    vs_champ = None if champ is None else _improvement(mine, champ, lower_is_better)
    beats_base = vs_base >= margin and vs_base > 0
    beats_champ = vs_champ is None or (vs_champ >= margin and vs_champ > 0)
    promoted = beats_base and beats_champ
    parts = [f"baseline {base:.4g} ({vs_base:+.1%})"]
    if champ is not None:
        parts.append(f"champion {champ:.4g} ({vs_champ:+.1%})")
    loser = "baseline" if not beats_base else "champion"
    verdict = "promoted" if promoted else f"not promoted: does not beat the {loser}"
    direction = "lower" if lower_is_better else "higher"
    reason = (
        f"{verdict}: {metric} {mine:.4g} vs {', '.join(parts)}; "
        f"needs {margin:.1%} better ({direction} is better)"
    )
    return GateDecision(
        promoted, reason, metric, lower_is_better, margin, mine, base, champ, vs_base, vs_champ
    )


def apply_gate(
    target: MlflowTarget, model_name: str, version: str | int, decision: GateDecision
) -> None:
    """Record the decision on the version either way; on promotion move ``champion`` to it
    and keep the champion it replaces as ``previous_champion`` (one rollback away)."""
    client = mlflow_client(target)
    version = str(version)
    for key, value in decision.as_tags().items():
        client.set_model_version_tag(model_name, version, key, value)
    if not decision.promoted:
        return
    current = model_aliases(client, model_name).get(CHAMPION)
    if current is not None and current != version:
        client.set_registered_model_alias(model_name, PREVIOUS_CHAMPION, current)
        client.set_model_version_tag(model_name, version, "gate.previous_champion", current)
    client.set_registered_model_alias(model_name, CHAMPION, version)


def is_refit(
    champion_params: Mapping[str, str], run_params: Mapping[str, Any], spec: Sequence[str]
) -> bool:
    """Same spec as the champion (every ``spec`` param equal, compared as MLflow stores them:
    text), newer data: the champion's validation number was measured on other rows, so the gate
    asks the refit to beat the baseline only (and so keeps the data fresh)."""
    return all(champion_params.get(k) == str(run_params.get(k)) for k in spec)


def _under_gate_name(metrics: Mapping[str, float], metric: str, key: str) -> dict[str, float]:
    """A champion's recorded metrics with the value kept as ``key`` also under ``metric``."""
    return {**metrics, metric: metrics[key]} if key in metrics else dict(metrics)


@dataclass(frozen=True)
class GatedVersion:
    """A logged challenger and the gate's verdict on it; ``refit``: judged against the baseline
    only because it has the champion's spec."""

    registered: RegisteredVersion
    decision: GateDecision
    refit: bool


def register_and_gate(
    target: MlflowTarget,
    run: TrainingRun,
    *,
    metric: str,
    baseline: float,
    margin: float,
    lower_is_better: bool = True,
    spec: Sequence[str] | None = None,
    recorded_as: str | None = None,
) -> GatedVersion:
    """The gate glue every product repeats: log ``run`` as challenger (its ``metrics`` must
    hold ``metric``, or ``recorded_as`` when MLflow keeps it under another name, e.g. demand's
    ``backtest_wape`` for the gate's ``wape``), gate it against ``baseline`` (the simple model's
    ``metric`` on the same rows) and the champion's recorded value unless the run is a refit of
    the champion's ``spec`` (``None``: always compared with the champion), record the verdict
    and move the aliases. The champion is read before logging, so it is the one the challenger
    must beat."""
    key = recorded_as or metric
    current = champion(target, run.model_name)
    registered = log_training_run(target, run)
    refit = current is not None and spec is not None and is_refit(current.params, run.params, spec)
    decision = promotion_gate(
        {metric: run.metrics[key]},
        None if current is None or refit else _under_gate_name(current.metrics, metric, key),
        {metric: baseline},
        metric=metric,
        margin=margin,
        lower_is_better=lower_is_better,
    )
    apply_gate(target, run.model_name, registered.version, decision)
    return GatedVersion(registered, decision, refit)
