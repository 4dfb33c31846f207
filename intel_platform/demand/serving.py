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
