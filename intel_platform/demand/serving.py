"""The demand model as an MLflow pyfunc: the p10/p50/p90 boosters travel as one registered
model, so scoring loads ``models:/demand_lightgbm@champion`` and never a loose file.

This module imports MLflow at the top on purpose: only training and scoring import it, inside
their functions, so loading the code location stays fast.
"""

import mlflow.pyfunc  # noqa: TID253
import pandas as pd
import polars as pl

from intel_platform.demand.training import DemandModel

PIP_REQUIREMENTS = ["lightgbm", "polars", "pandas", "numpy", "mlflow"]


class DemandPyfunc(mlflow.pyfunc.PythonModel):
    """Feature rows in (pandas, as MLflow serves), p10/p50/p90 out."""

    def __init__(self, model: DemandModel):
        self.model = model

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ARG002
        predictions = self.model.predict(pl.from_pandas(model_input))
        return pd.DataFrame(predictions)


def demand_model(loaded: "mlflow.pyfunc.PyFuncModel") -> DemandModel:
    """The trained model inside a registry-loaded pyfunc, for the recursive forecaster."""
    return loaded.unwrap_python_model().model


class ProphetAggregates(mlflow.pyfunc.PythonModel):
    """One Prophet per aggregate series (e.g. per store), stored with Prophet's own JSON
    serializer, served as one registered model: rows of (level columns, ds, promo_share) in,
    p10/p50/p90 of the series' total out."""

    def __init__(self, level: list[str], models: dict[tuple, object]):
        from prophet.serialize import model_to_json  # noqa: PLC0415

        self.level = list(level)
        self.models = {"|".join(map(str, key)): model_to_json(m) for key, m in models.items()}

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ARG002
        from prophet.serialize import model_from_json  # noqa: PLC0415

        parts = []
        for key, rows in model_input.groupby(self.level, sort=False):
            name = "|".join(map(str, key if isinstance(key, tuple) else (key,)))
            predicted = model_from_json(self.models[name]).predict(rows[["ds", "promo_share"]])
            band = predicted[["yhat_lower", "yhat", "yhat_upper"]].clip(lower=0).to_numpy()
            parts.append(pd.DataFrame(band, columns=["p10", "p50", "p90"], index=rows.index))
        return pd.concat(parts).loc[model_input.index]
