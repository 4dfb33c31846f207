#!/usr/bin/env bash
# Scale check of the demand intelligence layers at the M5 shape, on the home that
# scripts/scale_check.sh filled: the features asset (all of history, per store) and LightGBM
# training on a bounded recent window, each timed with /usr/bin/time -v.
#   SCALE_HOME=/path WINDOW_DAYS=365 ROUNDS=300 bash scripts/scale_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export INTEL_PLATFORM_HOME=${SCALE_HOME:-$PWD/.intel_home_scale}
REPORT="$INTEL_PLATFORM_HOME/scale_report.txt"
LAST=$($BIN/python -c "
import duckdb, os
c = duckdb.connect(os.environ['INTEL_PLATFORM_HOME'] + '/warehouse.duckdb', read_only=True)
print(c.execute('SELECT max(date) FROM demand_harmonized.sales').fetchone()[0])")

step() {
  local name=$1; shift
  local log="$INTEL_PLATFORM_HOME/$name.time"
  /usr/bin/time -v "$@" > "$INTEL_PLATFORM_HOME/$name.out" 2> "$log" || { tail -30 "$log"; exit 1; }
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$log" | awk '{printf "%.2f GiB", $NF/1048576}')
  printf '%-28s wall %-10s peak RSS %s\n' "$name" "$wall" "$rss" | tee -a "$REPORT"
}

step features $BIN/intel-platform materialize demand --first "$LAST" --last "$LAST" \
  --select 'key:"demand/features/store_item_day"'
step train_lightgbm $BIN/python scripts/train_at_scale.py \
  --window-days "${WINDOW_DAYS:-365}" --rounds "${ROUNDS:-300}"
cat "$INTEL_PLATFORM_HOME/train_lightgbm.out" | tee -a "$REPORT"
