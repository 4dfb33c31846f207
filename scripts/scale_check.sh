#!/usr/bin/env bash
# Scale check at the M5 shape (10 stores x 3,049 items x 1,941 days, ~59 M store-item-days):
# generate the landing zone, ingest it (raw), harmonize it, each step timed with
# /usr/bin/time -v (wall time and peak RSS). Needs ~15 GB of free disk; takes tens of minutes.
#   SCALE_HOME=/path bash scripts/scale_check.sh      (default: .intel_home_scale in the repo)
#   STORES=3 ITEMS=500 DAYS=365 bash scripts/scale_check.sh   (a smaller shape)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
STORES=${STORES:-10}
ITEMS=${ITEMS:-3049}
DAYS=${DAYS:-1941}
START=${START:-2011-01-29}
export INTEL_PLATFORM_HOME=${SCALE_HOME:-$PWD/.intel_home_scale}
LAST=$($BIN/python -c "import datetime as d; print(d.date.fromisoformat('$START') + d.timedelta(days=$DAYS - 1))")
rm -rf "$INTEL_PLATFORM_HOME"
mkdir -p "$INTEL_PLATFORM_HOME"
REPORT="$INTEL_PLATFORM_HOME/scale_report.txt"

step() {
  local name=$1; shift
  local log="$INTEL_PLATFORM_HOME/$name.time"
  /usr/bin/time -v "$@" > "$INTEL_PLATFORM_HOME/$name.out" 2> "$log" || { tail -30 "$log"; exit 1; }
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$log" | awk '{printf "%.2f GiB", $NF/1048576}')
  printf '%-28s wall %-10s peak RSS %s\n' "$name" "$wall" "$rss" | tee -a "$REPORT"
}

echo "shape: $STORES stores x $ITEMS items x $DAYS days ($START..$LAST)" | tee "$REPORT"
step generate $BIN/intel-platform generate demand --stores "$STORES" --items "$ITEMS" \
  --days "$DAYS" --start "$START" --seed 1
du -sh "$INTEL_PLATFORM_HOME/landing" | tee -a "$REPORT"
step ingest_raw $BIN/intel-platform materialize demand --first "$START" --last "$LAST" \
  --select 'group:demand_raw'
step harmonize $BIN/intel-platform materialize demand --first "$START" --last "$LAST" \
  --select 'group:demand_harmonized'
$BIN/python - <<PY | tee -a "$REPORT"
import duckdb, os
conn = duckdb.connect(os.environ["INTEL_PLATFORM_HOME"] + "/warehouse.duckdb", read_only=True)
for table in ["demand_raw.pos_sales", "demand_raw.ecom_orders", "demand_raw.inventory",
              "demand_harmonized.sales", "demand_harmonized.sales_quarantine",
              "demand_harmonized.inventory"]:
    print(f"{table:<40} {conn.execute(f'SELECT count(*) FROM {table}').fetchone()[0]:>14,} rows")
PY
du -sh "$INTEL_PLATFORM_HOME/warehouse.duckdb" | tee -a "$REPORT"
echo "report: $REPORT"
