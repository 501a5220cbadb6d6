#!/usr/bin/env bash
# Re-runs the commands whose outputs the README shows, so a change that
# moves the model's outputs (a model change) can re-check every figure.
#
#   scripts/readme-figures.sh OUT [FIGURE...]
#
# Each FIGURE writes OUT/FIGURE.txt (what the command printed, the
# command first) and its output folder OUT/FIGURE/; with no FIGURE, all
# of them, cheapest first. On the 2-core VM: table, controls, ramps and
# profiles take a few minutes together, features (the tables of the
# retry limits, AWS's 2026 retry mode, CoDel, outlier detection, adaptive
# concurrency, round trips and hedging: 16 variants of 2–6 runs each)
# about 10, explain about 15, drain about 40 (both plans), headroom
# about 42, size about 50, sweep about 14.
# `table` also writes the README's two charts to OUT/docs/ (the first and
# third goodput charts of the run's report.html), `sweep` its map; copy
# them over docs/ when they changed. At the end, scripts/readme_check.py
# compares the README's printed blocks with the outputs (it can be run
# again on OUT alone) and the script exits 1 if one differs. What the
# README says around each block (the prose, the model sections' tables,
# the verdicts-by-drain table, the size table) is read from these
# outputs by hand. The independent-clients paragraph compares with an
# older build and is not re-run here.
set -euo pipefail

if [ $# -lt 1 ]; then
  sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
out=$1
shift
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/drainstorm
mkdir -p "$out"
out=$(cd "$out" && pwd)

all=(table controls ramps profiles features explain drain headroom size sweep)
figures=("$@")
[ ${#figures[@]} -eq 0 ] && figures=("${all[@]}")

only='balancer=least-conn,ring,policy=immediate,backoff-budget'
paced='timeline[0]={ at = "45m", action = "paced-drain", site = "cys", step = 0.1, every = "2m", max_utilisation = 0.85, max_reject_rate = 0.02 }'

# Runs drainstorm with the arguments given, its output to OUT/NAME.txt.
run() {
  local name=$1
  shift
  echo "== $name: drainstorm $*"
  {
    printf '$ drainstorm'
    printf ' %q' "$@"
    printf '\n\n'
    "$bin" "$@" 2>&1
  } > "$out/$name.txt"
  tail -n 3 "$out/$name.txt"
}

# `--set sites[i].KEY=VALUE` for each of the incident's four sites, one
# argument per line.
each_site() {
  for i in 0 1 2 3; do printf -- '--set\nsites[%d].%s=%s\n' "$i" "$1" "$2"; done
}

# One variant of the incident, with the arguments given.
variant() {
  local name=$1
  shift
  run "$name" run cheyenne-2026 "$@" -o "$out/$name"
}

# The tables of the README's model sections: each variant of the
# incident that a table compares with the profile as bundled.
features() {
  local three='balancer=least-conn,p2c,ring,policy=immediate,backoff-budget'
  local two='balancer=least-conn,ring,policy=immediate,backoff-budget'
  local svc='service = { dist = "exponential", mean = "200ms" }'
  local broken="[{ count = 75, slots = 1, queue = 20, $svc }, { count = 5, slots = 1, queue = 20, $svc, fail_probability = 1.0 }]"
  local aws='max_attempts = 3, attempt_timeout = "2s", honour_pushback = false'
  local jitter='multiplier = 2.0, cap = "20s", jitter = "full"'
  local quota='kind = "quota", capacity = 500, success_increment = 1'
  local -a a b
  local limits='policies.immediate.limits={ max_requests = 1024, max_pending_requests = 1024'
  variant limits-max-retries --only balancer=least-conn,ring,policy=immediate \
    --set "$limits, max_retries = 3 }"
  variant limits-retry-budget --only balancer=least-conn,ring,policy=immediate \
    --set "$limits, retry_budget = {} }"
  variant aws-2026 --only balancer=least-conn,p2c,ring \
    --set "policies.aws-2s={ $aws, backoff = { kind = \"exponential\", base = \"100ms\", $jitter }, budget = { $quota, retry_cost = 5, timeout_cost = 10 } }" \
    --set "policies.aws-2026-2s={ $aws, backoff = { kind = \"exponential\", base = \"50ms\", $jitter }, budget = { $quota, retry_cost = 14, timeout_cost = 14 } }" \
    --set 'compare.policies=["aws-2s","aws-2026-2s"]'
  mapfile -t a < <(each_site 'backends[0].discipline' '{ kind = "codel", target = "5ms", interval = "100ms" }')
  variant codel-5ms --only "$two" "${a[@]}"
  mapfile -t a < <(each_site 'backends[0].discipline' '{ kind = "codel", target = "200ms", interval = "1s" }')
  variant codel-200ms --only "$two" "${a[@]}"
  mapfile -t b < <(each_site outlier_detection '{}')
  variant outlier --only "$three" "${b[@]}"
  mapfile -t a < <(each_site outlier_detection '{ max_ejection_percent = 50 }')
  variant outlier-50 --only "$three" "${a[@]}"
  mapfile -t a < <(each_site backends "$broken")
  variant broken --only "$three" "${a[@]}"
  variant broken-outlier --only "$three" "${a[@]}" "${b[@]}"
  mapfile -t a < <(each_site adaptive_concurrency '{}')
  variant adaptive-envoy --only "$three" "${a[@]}"
  mapfile -t a < <(each_site adaptive_concurrency '{ min_concurrency = 40 }')
  variant adaptive-min-40 --only "$three" "${a[@]}"
  mapfile -t a < <(each_site adaptive_concurrency '{ fixed_value = "150ms" }')
  variant adaptive-fixed --only "$three" "${a[@]}"
  mapfile -t a < <(each_site rtt '"20ms"')
  variant rtt-20ms --only "$three" "${a[@]}"
  mapfile -t a < <(each_site rtt '"80ms"')
  variant rtt-80ms --only "$three" "${a[@]}"
  local hedge='policies.immediate.hedging={delay="600ms"}'
  local two_attempts='policies.immediate.max_attempts=2'
  local imm='balancer=least-conn,p2c,ring,policy=immediate'
  variant hedged --only "$imm" --set "$hedge"
  variant retries-2 --only "$imm" --set "$two_attempts"
  variant hedged-2 --only "$imm" --set "$hedge" --set "$two_attempts"
}

# The SVG charts inlined in an HTML page, by their order in it.
charts() {
  python3 - "$@" << 'EOF'
import re, sys
page, *wanted = sys.argv[1:]
svgs = re.findall(r"<svg.*?</svg>", open(page).read(), re.S)
for pair in wanted:
    index, path = pair.split("=", 1)
    with open(path, "w") as f:
        f.write(svgs[int(index)] + "\n")
EOF
}

for figure in "${figures[@]}"; do
  case $figure in
    table)
      run table run cheyenne-2026 -o "$out/table"
      mkdir -p "$out/docs"
      charts "$out/table/report.html" \
        0="$out/docs/cheyenne-goodput-immediate.svg" \
        2="$out/docs/cheyenne-goodput-backoff-budget.svg"
      ;;
    controls)
      run controls-ramped run ramped-drain -o "$out/controls-ramped"
      # The same night without the drain: the profile with its first
      # timeline entry (the drain) left out.
      "$bin" show cheyenne-2026 | python3 -c '
import sys
text = sys.stdin.read()
head, first, rest = text.partition("[[timeline]]\n")
assert "action = \"drain\"" in rest.split("\n\n")[0], "the first entry is not the drain"
print(head + rest.split("\n\n", 1)[1], end="")' > "$out/no-drain.toml"
      run controls-no-drain run "$out/no-drain.toml" -o "$out/controls-no-drain"
      ;;
    ramps)
      run ramps-15m run cheyenne-2026 --set 'timeline[0].ramp=15m' -o "$out/ramps-15m"
      run ramps-paced run cheyenne-2026 --set "$paced" -o "$out/ramps-paced"
      ;;
    profiles)
      # Every bundled profile but the incident, which `table` runs.
      for profile in $("$bin" profiles | awk '$1 != "cheyenne-2026" { print $1 }'); do
        run "profile-$profile" run "$profile" -o "$out/profile-$profile"
      done
      ;;
    features)
      features
      ;;
    explain)
      run explain explain cheyenne-2026 -o "$out/explain"
      ;;
    drain)
      run drain plan drain cheyenne-2026 --only "$only" -o "$out/drain"
      run drain-alone plan drain cheyenne-2026 --set 'timeline[4].weight=80' --only "$only" \
        -o "$out/drain-alone"
      ;;
    headroom)
      run headroom plan headroom cheyenne-2026 --only "$only" -o "$out/headroom"
      ;;
    size)
      run size plan size cheyenne-2026 --sizes 0.1,0.3,1,3 -o "$out/size"
      ;;
    sweep)
      run sweep sweep cheyenne-2026 --set 'timeline[4].weight=80' \
        --only balancer=least-conn --only policy=immediate \
        --vary 'clients[0].workload.rate=600..1050:10' --vary 'timeline[0].ramp=0s..45m:10' -n 3 \
        -o "$out/sweep"
      mkdir -p "$out/docs"
      charts "$out/sweep/map.html" 0="$out/docs/cheyenne-map-least-conn-immediate.svg"
      ;;
    *)
      echo "unknown figure '$figure'; one of: ${all[*]}" >&2
      exit 2
      ;;
  esac
done
echo "wrote $out"
python3 scripts/readme_check.py "$out"
