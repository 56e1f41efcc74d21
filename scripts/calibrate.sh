#!/usr/bin/env bash
# Calibration of the claim suite: runs the quick tier with seeds 1..S (default 20) and counts,
# per check, how often the check's own test passed and how often its negative control was
# rejected. A calibrated suite has S/S in both columns for every check.
# Usage: scripts/calibrate.sh [SEEDS] [OUTDIR]     (needs a built build/verify/sdv)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-20}
out=${2:-calibration}
sdv=${SDV:-build/verify/sdv}
[ -x "$sdv" ] || { echo "calibrate: $sdv not built (run ./run build)" >&2; exit 2; }
mkdir -p "$out"
for s in $(seq 1 "$seeds"); do
  echo "calibrate: seed $s/$seeds" >&2
  "$sdv" verify --seed "$s" --out "$out/seed-$s" > "$out/seed-$s.txt" 2>&1 || true
done
/usr/bin/python3 - "$out" "$seeds" <<'PY'
import json, os, sys
out, seeds = sys.argv[1], int(sys.argv[2])
rows, order, incomplete = {}, [], 0
for s in range(1, seeds + 1):
    path = os.path.join(out, "seed-%d" % s, "summary.json")
    try:
        summary = json.load(open(path))
    except (OSError, ValueError):
        incomplete += 1
        continue
    if not summary.get("complete"):
        incomplete += 1
    for c in summary["checks"]:
        r = rows.setdefault(c["id"], {"pass": 0, "control": 0, "runs": 0, "secs": 0.0,
                                      "inconclusive": 0})
        if c["id"] not in order:
            order.append(c["id"])
        r["runs"] += 1
        r["secs"] += c.get("seconds", 0.0)
        if c.get("status") == "done":
            r["pass"] += bool(c.get("pass"))
            r["inconclusive"] += c.get("verdict") == "INCONCLUSIVE"
            r["control"] += bool(c.get("control", {}).get("rejected"))
lines = ["| check | test passed | inconclusive | control rejected | mean seconds |",
         "| --- | --- | --- | --- | --- |"]
bad = 0
for cid in order:
    r = rows[cid]
    ok = r["pass"] == seeds and r["control"] == seeds
    bad += not ok
    lines.append("| %s | %d/%d | %d | %d/%d | %.1f |" % (cid, r["pass"], seeds, r["inconclusive"],
                                                        r["control"], seeds,
                                                        r["secs"] / max(r["runs"], 1)))
table = "\n".join(lines)
open(os.path.join(out, "calibration.md"), "w").write(table + "\n")
print(table)
print("\n%d checks, %d seeds: %d fully calibrated, %d not; %d incomplete runs"
      % (len(order), seeds, len(order) - bad, bad, incomplete))
sys.exit(1 if bad or incomplete else 0)
PY
