"""MLflow tracking and registry: where every product's models are logged, found and loaded.

A model is trusted only if it can be traced to its code, params and the data version of every
input table. Registry aliases carry the state: ``challenger`` is the newest candidate,
``champion`` serves, ``previous_champion`` is one rollback away. Only the promotion gate
(``intel_platform.core.gate``) moves ``champion`` forward; ``rollback`` moves it back.
Predictions load ``models:/<name>@champion``, never a loose file.

The store is local (SQLite under ``home.mlflow``, artifacts beside it) unless
``INTEL_MLFLOW_TRACKING_URI`` points elsewhere; it is read when a target is built, not at import.
mlflow and the model libraries are imported inside functions so code locations load fast.
"""

__all__ = [
    "ChampionInfo",
    "MlflowTarget",
    "RegisteredVersion",
    "RollbackError",
    "TrainingRun",
    "champion",
    "data_version",
    "load_champion",
    "log_training_run",
    "mlflow_client",
    "mlflow_target",
    "model_aliases",
    "rollback",
    "tracking_uri",
    "version_info",
]

import hashlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import polars as pl

from intel_platform.core.home import ProjectHome

TRACKING_URI_ENV = "INTEL_MLFLOW_TRACKING_URI"
CHALLENGER = "challenger"
CHAMPION = "champion"
PREVIOUS_CHAMPION = "previous_champion"
FLAVORS = ("lightgbm", "sklearn", "prophet", "pyfunc")
TOP_IMPORTANCES = 10
MAX_PARAM_CHARS = 6000  # MLflow rejects longer param values; the JSON artifact has the full list
_MLFLOW_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
_SQLITE = "sqlite:///"
_UNSAFE_KEY = re.compile(r"[^\w\-. /]")  # characters MLflow refuses in a metric key


def tracking_uri(home: ProjectHome) -> str:
    """The local store: one SQLite file, so runs and the registry survive restarts; its
    artifacts go to ``<home.mlflow>/artifacts`` (see ``mlflow_target``)."""
    return f"{_SQLITE}{(home.mlflow / 'mlflow.db').absolute()}"


@dataclass(frozen=True)
class MlflowTarget:
    """Where a product's runs and models live; ``artifact_location`` is set for SQLite stores."""

    tracking_uri: str
    experiment: str
    artifact_location: str | None = None


def mlflow_target(
    experiment: str, home: ProjectHome | None = None, *, uri: str | None = None
) -> MlflowTarget:
    """Explicit ``uri`` wins, then ``INTEL_MLFLOW_TRACKING_URI``, then the home's SQLite store.
    Read on call (not at import) so a deployment sets the variable without code changes. Any
    SQLite store keeps its artifacts beside its file (MLflow's default is ``./mlartifacts`` in
    the working directory); a server decides for itself."""
    chosen = uri or os.environ.get(TRACKING_URI_ENV) or tracking_uri(home or ProjectHome.resolve())
    if not chosen.startswith(_SQLITE):
        return MlflowTarget(chosen, experiment)
    artifacts = Path(chosen.removeprefix(_SQLITE)).absolute().parent / "artifacts"
    return MlflowTarget(chosen, experiment, artifacts.as_uri())


def _prepare_store(target: MlflowTarget) -> None:
    """SQLite does not create the folder of its file."""
    if target.tracking_uri.startswith(_SQLITE):
        Path(target.tracking_uri.removeprefix(_SQLITE)).parent.mkdir(parents=True, exist_ok=True)


def mlflow_client(target: MlflowTarget) -> Any:
    """A client for the target's tracking store and registry (the same URI), folder created."""
    from mlflow import MlflowClient  # noqa: PLC0415

    _prepare_store(target)
    return MlflowClient(tracking_uri=target.tracking_uri, registry_uri=target.tracking_uri)


@contextmanager
def _pointed_at(target: MlflowTarget) -> Iterator[None]:
    """MLflow's fluent API (start_run, log_model, load_model) reads process-global URIs; point
    them at the target for the block and put back what was there, env vars included."""
    import mlflow  # noqa: PLC0415

    _prepare_store(target)
    saved_env = {name: os.environ.get(name) for name in _MLFLOW_URI_ENV}
    old_tracking, old_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(target.tracking_uri)
    mlflow.set_registry_uri(target.tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(old_tracking)
        # A registry that only followed the tracking URI goes back to following it (None).
        registry = None if old_registry == old_tracking else old_registry
        mlflow.set_registry_uri(registry)  # type: ignore[arg-type]
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _experiment_id(client: Any, target: MlflowTarget) -> str:
    """Get or create the experiment; a concurrent creator is not an error."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    found = client.get_experiment_by_name(target.experiment)
    if found is None:
        try:
            return client.create_experiment(target.experiment, target.artifact_location)
        except MlflowException:
            found = client.get_experiment_by_name(target.experiment)
            if found is None:
                raise
    return found.experiment_id


def data_version(frame: pl.DataFrame) -> str:
    """A content hash of a training table, recorded with every model so it can be reproduced.

    sha256 over the schema, the height and polars' per-row 64-bit hashes (``hash_rows``, fixed
    seed) in row order: multithreaded, 8 bytes per row to digest, so millions of rows
    take well under a second. It is order-dependent (sort by grain first; assets already do)
    and tied to polars' hash, which polars may change between releases: an upgrade can then
    give every table a new version, the safe direction (looks new, never falsely the same).
    """
    digest = hashlib.sha256()
    digest.update(repr([(name, str(dtype)) for name, dtype in frame.schema.items()]).encode())
    digest.update(frame.height.to_bytes(8, "little"))
    if frame.height and frame.width:
        rows = frame.hash_rows(seed=0)
        digest.update(rows.to_numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class TrainingRun:
    """Everything one training run records; a dataclass because it is more than 8 arguments.

    ``input_example`` is a few feature rows (pandas or polars); the signature is inferred from
    it and the model's prediction on it. ``tags`` carry e.g. ``retrain_reason``.
    ``pip_requirements`` defaults to the flavor's pinned libraries (pyfunc: inferred by MLflow,
    slower)."""

    model_name: str
    flavor: str
    model: Any
    features: Sequence[str]
    input_example: Any
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    data_versions: Mapping[str, str] = field(default_factory=dict)
    feature_importance: Mapping[str, float] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    pip_requirements: Sequence[str] | None = None
    tables: Mapping[str, pl.DataFrame] = field(default_factory=dict)


class RegisteredVersion(NamedTuple):
    name: str
    version: str
    run_id: str


def _flavor_module(flavor: str) -> ModuleType:
    """The ``mlflow.<flavor>`` module, imported only when a model of that flavor is used."""
    if flavor not in FLAVORS:
        raise ValueError(f"unknown model flavor {flavor!r}; expected one of {FLAVORS}")
    import importlib  # noqa: PLC0415

    return importlib.import_module(f"mlflow.{flavor}")


def _pip_requirements(run: TrainingRun) -> list[str] | None:
    """The flavor's pinned libraries. Left to MLflow, it infers them by loading the model in a
    subprocess (about 5 s per run) and finds the same list for these flavors."""
    if run.pip_requirements is not None:
        return list(run.pip_requirements)
    module = _flavor_module(run.flavor)
    if run.flavor == "sklearn":
        return module.get_default_pip_requirements(include_skops=True)
    if run.flavor == "lightgbm":  # the sklearn API (LGBMRegressor) also needs scikit-learn
        sklearn_reqs = _flavor_module("sklearn").get_default_pip_requirements()
        return module.get_default_pip_requirements(include_skops=True) + sklearn_reqs
    if run.flavor == "prophet":
        return module.get_default_pip_requirements()
    return None


def _log_model(run: TrainingRun) -> Any:
    """Log and register the model with a signature, so serving rejects a wrong feature frame."""
    from mlflow.models import infer_signature  # noqa: PLC0415

    example = run.input_example  # MLflow infers signatures from pandas, not polars
    example = example.to_pandas() if isinstance(example, pl.DataFrame) else example
    output = None if run.flavor == "pyfunc" else run.model.predict(example)
    options = {
        "name": "model",
        "signature": infer_signature(example, output),
        "input_example": example,
        "registered_model_name": run.model_name,
        "pip_requirements": _pip_requirements(run),
    }
    module = _flavor_module(run.flavor)
    if run.flavor == "pyfunc":
        return module.log_model(python_model=run.model, **options)
    return module.log_model(run.model, **options)


def _log_features(run: TrainingRun) -> None:
    """Feature list and importance: the param is for the UI, the JSON artifacts are complete."""
    import mlflow  # noqa: PLC0415

    listed = ",".join(run.features)
    if len(listed) > MAX_PARAM_CHARS:
        listed = listed[: MAX_PARAM_CHARS - 20] + f"...(+{len(run.features)} total)"
    mlflow.log_params({"features": listed, "n_features": len(run.features)})
    mlflow.log_dict({"features": list(run.features)}, "features.json")
    if run.feature_importance:
        ranked = sorted(run.feature_importance.items(), key=lambda kv: -abs(kv[1]))
        mlflow.log_dict(dict(ranked), "feature_importance.json")
        top = ranked[:TOP_IMPORTANCES]
        mlflow.log_metrics({f"importance.{_UNSAFE_KEY.sub('_', k)}": float(v) for k, v in top})


def log_training_run(target: MlflowTarget, run: TrainingRun) -> RegisteredVersion:
    """One MLflow run per training: params, metrics, features, input data versions (tags
    ``data_version.<name>``), importance and the model; registered and aliased ``challenger``.
    Nothing serves until the gate (``intel_platform.core.gate``) says so."""
    import mlflow  # noqa: PLC0415

    client = mlflow_client(target)
    experiment_id = _experiment_id(client, target)
    version_tags = {f"data_version.{k}": v for k, v in run.data_versions.items()}
    version_tags |= dict(run.tags)
    with _pointed_at(target), mlflow.start_run(experiment_id=experiment_id) as active:
        mlflow.set_tags({**version_tags, "flavor": run.flavor, "model_name": run.model_name})
        mlflow.log_params(dict(run.params))
        mlflow.log_metrics({k: float(v) for k, v in run.metrics.items()})
        _log_features(run)
        for name, table in run.tables.items():  # e.g. explanations, backtest by window
            mlflow.log_text(table.write_csv(), f"{name}.csv")
        info = _log_model(run)
    version = str(info.registered_model_version)
    for key, value in version_tags.items():
        client.set_model_version_tag(run.model_name, version, key, value)
    client.set_registered_model_alias(run.model_name, CHALLENGER, version)
    return RegisteredVersion(run.model_name, version, active.info.run_id)


def model_aliases(client: Any, model_name: str) -> dict[str, str]:
    """Alias -> version of a registered model; empty when the model was never registered."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        model = client.get_registered_model(model_name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise
    return {alias: str(version) for alias, version in model.aliases.items()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RollbackError(LookupError):
    """Raised when there is nothing to roll back to."""


def rollback(target: MlflowTarget, model_name: str) -> str:
    """One step back: ``champion`` returns to ``previous_champion``; the demoted version is
    tagged. ``previous_champion`` then moves to the one that version replaced, if known (the
    ``gate.previous_champion`` tag the gate leaves on each promoted version), so repeated
    rollbacks walk back the promotion history. Returns a printable line."""
    client = mlflow_client(target)
    aliases = model_aliases(client, model_name)
    previous = aliases.get(PREVIOUS_CHAMPION)
    if previous is None:
        raise RollbackError(
            f"{model_name}: no previous champion to roll back to "
            f"(champion is {aliases.get(CHAMPION, 'not set')})"
        )
    current = aliases.get(CHAMPION)
    client.set_registered_model_alias(model_name, CHAMPION, previous)
    demoted = {"rolled_back": "true", "rolled_back_to": previous, "rolled_back_at": _now()}
    for key, value in demoted.items() if current is not None else ():
        client.set_model_version_tag(model_name, current, key, value)
    before = client.get_model_version(model_name, previous).tags.get("gate.previous_champion")
    if before is not None:
        client.set_registered_model_alias(model_name, PREVIOUS_CHAMPION, before)
    else:
        client.delete_registered_model_alias(model_name, PREVIOUS_CHAMPION)
    return f"{model_name}: champion rolled back from version {current} to version {previous}"


@dataclass(frozen=True)
class ChampionInfo:
    """The serving version, the params and metrics of the run that trained it, its tags."""

    model_name: str
    version: str
    run_id: str
    metrics: dict[str, float]
    tags: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)


def champion(target: MlflowTarget, model_name: str) -> ChampionInfo | None:
    """The current champion, or None before the first promotion (the gate then has only the
    baseline to beat)."""
    return version_info(target, model_name, CHAMPION)


def version_info(target: MlflowTarget, model_name: str, alias: str) -> ChampionInfo | None:
    """The version behind ``alias`` (``champion``, ``challenger``, ``previous_champion``) with
    its run's params and metrics and its tags (e.g. ``gate.reason``), or None if unset."""
    client = mlflow_client(target)
    version = model_aliases(client, model_name).get(alias)
    if version is None:
        return None
    model_version = client.get_model_version(model_name, version)
    data = client.get_run(model_version.run_id).data
    return ChampionInfo(
        model_name, version, model_version.run_id, dict(data.metrics), model_version.tags,
        dict(data.params),
    )  # fmt: skip


def load_champion(target: MlflowTarget, model_name: str, flavor: str) -> Any:
    """The champion model from the registry (``models:/<name>@champion``) with the flavor's
    loader, so forecasts always come from the promoted version, never from a loose file."""
    if champion(target, model_name) is None:
        raise LookupError(f"{model_name}: no champion yet; train one and pass the gate first")
    module = _flavor_module(flavor)
    with _pointed_at(target):
        return module.load_model(f"models:/{model_name}@{CHAMPION}")
