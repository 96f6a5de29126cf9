#!/usr/bin/env bash
# Builds the Nexmark benchmark in release, profiles Eddy on Q1 with callgrind, runs every
# workload and regenerates benches/REPORT.md.
#
#   benches/run.sh                         # 2 000 000 events, 5 runs, 1 and 2 workers
#   EVENTS=500000 RUNS=3 benches/run.sh    # smaller
#   benches/run.sh --only q0,q2            # extra arguments go to nexmark-bench
#   LONG=1 benches/run.sh                  # the memory check runs 10 minutes
#
# Environment: EVENTS, RUNS, SCALING_RUNS (15: rounds of q0, q2 and q5's scaling variants), WORKERS (1,2), PROFILE_EVENTS (200000), LATENCY_SECS (5 per rate),
# LATENCY_RATES (100000,1000000), MEMORY_SECS (20; LONG=1 makes it 600), MEMORY_RATE (100000),
# STREAMING=0 (skips the latency and memory runs), BENCH_DATA (where the
# generated data sets live; default /dev/shm/eddy-bench-data, else target/bench-data), REPORT
# (benches/REPORT.md),
# BENCH_COMMIT (the commit to show, when the tree is not a git checkout), TMPDIR (where outputs
# go; default /dev/shm).
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-2000000}
RUNS=${RUNS:-5}
SCALING_RUNS=${SCALING_RUNS:-15}
WORKERS=${WORKERS:-1,2}
PROFILE_EVENTS=${PROFILE_EVENTS:-200000}
REPORT=${REPORT:-benches/REPORT.md}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release/nexmark-bench"

cargo build --release -p eddy-bench

# Outputs (up to a few hundred MB per run) go to memory when it can: written to disk, their
# writeback competes with the runs for the CPUs and makes the timings noisy.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
# The inputs too: in the page cache, a file read back can still be evicted between runs (this
# virtual machine reclaims idle page cache) and one run then reads it from disk.
if [ -z "${BENCH_DATA:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then BENCH_DATA=/dev/shm/eddy-bench-data; fi
BENCH_DATA=${BENCH_DATA:-target/bench-data}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/eddy-bench-run.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Where the time goes: callgrind instruction counts (deterministic, unlike timings on a shared
# machine) of Eddy and of the serde loop on Q1 from JSONL, at a small size.
PROFILE="$WORK/profile.txt"
# The function table of callgrind_annotate's output, without file prefixes and object names.
functions() {
  awk '/file:function/ { f = 1; next } f && /^-+$/ { if (g) exit; g = 1; next } g && NF' \
    | sed 's/ \[[^]]*\]$//; s/???://; s/\.\/[^ :]*://' | cut -c1-170
}
if command -v valgrind >/dev/null 2>&1 && command -v callgrind_annotate >/dev/null 2>&1; then
  echo "profiling q1 with callgrind at $PROFILE_EVENTS events ..."
  small="$BENCH_DATA/events-$PROFILE_EVENTS"
  # Generates the small data set (if missing) outside the profiler.
  "$BIN" --child q1 serde-loop --events "$PROFILE_EVENTS" --data "$small" --out "$WORK/out" >/dev/null
  {
    for variant in eddy-jsonl-1w serde-loop; do
      valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$variant" \
        "$BIN" --child q1 "$variant" --events "$PROFILE_EVENTS" --data "$small" --out "$WORK/out" \
        >/dev/null 2>"$WORK/valgrind.$variant.log"
      total=$(callgrind_annotate "$WORK/cg.$variant" | awk '/PROGRAM TOTALS/ { print $1 }')
      echo "q1 $variant, $PROFILE_EVENTS events: $total instructions in total"
    done
    echo
    echo "Eddy (eddy-jsonl-1w), inclusive: the top functions by instructions spent in them and their callees"
    callgrind_annotate --inclusive=yes "$WORK/cg.eddy-jsonl-1w" 2>/dev/null | functions | head -n 45 || true
    echo
    echo "Eddy (eddy-jsonl-1w), self: the top functions by instructions spent in their own code"
    callgrind_annotate "$WORK/cg.eddy-jsonl-1w" 2>/dev/null | functions | head -n 30 || true
  } >"$PROFILE"
else
  echo "valgrind/callgrind_annotate not found: the report will have no profile" >"$PROFILE"
fi

# Streaming: latency of window results at fixed generator rates, and RSS of a long Q5 stream.
if [ "${STREAMING:-1}" != 0 ]; then
  LATENCY_SECS=${LATENCY_SECS:-5}
  LATENCY_RATES=${LATENCY_RATES:-100000,1000000}
  MEMORY_RATE=${MEMORY_RATE:-100000}
  if [ "${LONG:-0}" = 1 ]; then MEMORY_SECS=${MEMORY_SECS:-600}; else MEMORY_SECS=${MEMORY_SECS:-20}; fi
  "$BIN" --latency --rates "$LATENCY_RATES" --secs "$LATENCY_SECS" --out "$WORK/latency.md" >/dev/null
  echo "memory: Q5 stream for $MEMORY_SECS s ..."
  "$BIN" --memory --rate "$MEMORY_RATE" --secs "$MEMORY_SECS" --out "$WORK/memory.md" >/dev/null
fi
sections=()
for f in "$WORK/latency.md" "$WORK/memory.md"; do
  if [ -f "$f" ]; then sections+=(--section "$f"); fi
done

args=(--events "$EVENTS" --runs "$RUNS" --scaling-runs "$SCALING_RUNS" --workers-list "$WORKERS" --data "$BENCH_DATA/events-$EVENTS"
      --report "$REPORT" --profile "$PROFILE" --analysis benches/analysis.md "${sections[@]}")
if [ -n "${BENCH_COMMIT:-}" ]; then args+=(--commit "$BENCH_COMMIT"); fi
args+=("$@")
"$BIN" "${args[@]}" --command "EVENTS=$EVENTS RUNS=$RUNS SCALING_RUNS=$SCALING_RUNS WORKERS=$WORKERS LONG=${LONG:-0} MEMORY_SECS=${MEMORY_SECS:-} benches/run.sh $* (runs: nexmark-bench ${args[*]})"
