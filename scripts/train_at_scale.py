"""Train the demand LightGBM (p50 tweedie + p10/p90 quantile boosters) on the feature table of
the project home, the way ``demand/models/lightgbm`` does, and print rows, seconds per booster
set and the resulting model size. Used by scripts/scale_models.sh."""

import argparse
import time
from datetime import timedelta

from intel_platform.core.home import ProjectHome
from intel_platform.demand.models import read_features
from intel_platform.demand.training import LightGBMParams, train_lightgbm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window-days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    home = ProjectHome.resolve()
    started = time.perf_counter()
    last = read_features(home, columns=["date"])["date"].max()
    features = read_features(home, since=last - timedelta(days=args.window_days))
    loaded = time.perf_counter()
    params = LightGBMParams(window_days=args.window_days, num_boost_round=args.rounds)
    model = train_lightgbm(features, params=params)
    done = time.perf_counter()
    print(
        f"feature rows read   {features.height:>12,} ({features.estimated_size() / 2**30:.2f} GiB)"
    )
    print(f"training rows used  {model.rows_used:>12,} x {len(model.features)} features")
    print(f"read seconds        {loaded - started:>12.1f}")
    print(f"train seconds       {done - loaded:>12.1f} (3 boosters x {args.rounds} rounds)")


if __name__ == "__main__":
    main()
