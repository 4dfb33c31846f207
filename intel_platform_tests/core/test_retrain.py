"""The shared retrain sensor: one flagged verdict -> one run; the same evidence never twice."""

import dagster as dg

from intel_platform.core.retrain import build_retrain_sensor, verdict

DRIFT = dg.AssetKey(["toy", "monitoring", "feature_drift"])
DECAY = dg.AssetKey(["toy", "monitoring", "accuracy"])
MODEL = dg.AssetKey(["toy", "models", "model"])
SENSOR = build_retrain_sensor(
    "toy", [DRIFT, DECAY], dg.AssetSelection.assets(MODEL), ["toy__models__model"]
)


def _report(instance, key, reason: str | None, as_of: str = "2024-10-01") -> None:
    metadata = verdict(reason is not None, reason or "", f"{reason} detail", "3", as_of)
    instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata=metadata))


def _tick(instance, cursor):
    return SENSOR.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))


@dg.asset(key=MODEL)
def model() -> None:
    """Stands for the retraining run the daemon launches with the request's tags."""


def test_verdict_carries_what_the_sensor_reads_and_clears_the_reason_when_not_requested():
    assert verdict(True, "drift", "psi 0.4", "3", "2024-10-01") == {
        "retrain_requested": True, "retrain_reason": "drift", "retrain_detail": "psi 0.4",
        "champion_version": "3", "data_as_of": "2024-10-01",
    }  # fmt: skip
    quiet = verdict(False, "drift", "no champion yet", None)
    assert quiet["retrain_reason"] == "" and quiet["champion_version"] == ""
    assert "data_as_of" not in quiet


def test_sensor_is_named_for_its_product_and_runs_by_default():
    assert SENSOR.name == "toy_retrain_sensor"
    assert SENSOR.default_status == dg.DefaultSensorStatus.RUNNING


def test_one_flagged_verdict_gives_one_run_and_the_cursor_moves_past_it():
    instance = dg.DagsterInstance.ephemeral()
    empty = _tick(instance, None)
    assert empty.run_requests == [] and empty.skip_message == "no new monitoring evaluation"
    _report(instance, DECAY, None)
    quiet = _tick(instance, None)
    assert quiet.run_requests == [] and quiet.skip_message == "no retraining requested"
    _report(instance, DRIFT, "drift")
    tick = _tick(instance, quiet.cursor)
    (request,) = tick.run_requests
    assert int(tick.cursor) > int(quiet.cursor)
    assert request.run_key.startswith("toy-retrain-")
    assert request.tags["retrain_reason"] == "drift"
    assert request.tags["intel/trigger"] == "monitoring"
    assert request.tags["intel/drift_state"] == "v3/2024-10-01"
    assert request.run_config == {
        "ops": {"toy__models__model": {"config": {"retrain_reason": "drift"}}}
    }
    assert _tick(instance, tick.cursor).run_requests == []  # the same verdict: read already


def test_handled_evidence_is_not_retrained_twice_but_new_data_is():
    instance = dg.DagsterInstance.ephemeral()
    _report(instance, DRIFT, "drift")
    _report(instance, DECAY, "decay")
    tick = _tick(instance, None)
    (request,) = tick.run_requests
    assert request.tags["retrain_reason"] == "drift+decay"
    tags = {k: v for k, v in request.tags.items() if not k.startswith("dagster/")}
    assert dg.materialize([model], instance=instance, tags=tags).success
    _report(instance, DRIFT, "drift")  # re-evaluated: same champion, same data day
    again = _tick(instance, tick.cursor)
    assert again.run_requests == []
    assert again.skip_message == "already retrained on this evidence"
    _report(instance, DRIFT, "drift", as_of="2024-10-02")  # a new day, still drifting
    (later,) = _tick(instance, again.cursor).run_requests
    assert later.tags["retrain_reason"] == "drift"
