#!/bin/sh
# Runs every built libFuzzer target fuzz/fuzz_NAME for SECONDS each, on a
# scratch copy of its seed corpus fuzz/corpus/NAME/ (the seeds in the source
# tree are never modified), with fuzz/NAME.dict when it exists. Prints one
# line per target; exits 1 if any target crashed, leaked, timed out or ran
# out of memory, leaving the reproducer in fuzz-artifacts/. Besides the 2 GiB
# limit on the process, any single allocation over 256 MiB fails the run: no
# input of at most 64 KiB has a reason to ask for that much, and a parser
# that does so from a declared size is the bug the limit is there to catch
# (the process limit alone only trips once such blocks pile up).
#
#   ./configure CC=clang --enable-fuzzing && make -j2 && fuzz/run.sh 30
#
# Run it from the build directory (where fuzz/fuzz_* were built); the seeds
# are found beside this script.
set -u

usage() {
    echo "usage: fuzz/run.sh SECONDS   (run from the build directory)" >&2
    exit 2
}
[ $# -eq 1 ] || usage
seconds=$1
case $seconds in
    ''|*[!0-9]*) usage ;;
esac
[ "$seconds" -ge 1 ] || usage

srcdir=$(cd "$(dirname "$0")" && pwd)
builddir=${FUZZ_BUILDDIR:-.}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mfr-fuzz-XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT INT TERM

found=0
failed=0
for bin in "$builddir"/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    case $bin in *.c|*.o|*.sh) continue ;; esac
    found=$((found + 1))
    name=${bin##*/fuzz_}
    corpus="$scratch/$name"
    mkdir -p "$corpus"
    if [ -d "$srcdir/corpus/$name" ]; then
        cp "$srcdir/corpus/$name"/* "$corpus"/ 2>/dev/null
    fi
    seeds=$(ls "$corpus" | wc -l)
    mkdir -p fuzz-artifacts || exit 1
    set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="fuzz-artifacts/$name-"
    if [ -f "$srcdir/$name.dict" ]; then
        set -- "$@" -dict="$srcdir/$name.dict"
    fi
    log="$scratch/$name.log"
    if "$bin" "$@" "$corpus" >"$log" 2>&1; then
        runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
        cov=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        edges=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
        echo "fuzz_$name: ok: ${runs:-$cov} runs in ${seconds} s, coverage ${edges:-?} edges, corpus $seeds -> $(ls "$corpus" | wc -l)"
    else
        failed=$((failed + 1))
        what=$(grep -m 1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|SUMMARY' "$log")
        echo "fuzz_$name: FAILED: ${what:-see the log below}"
        cp "$log" "fuzz-artifacts/$name.log"
        echo "  log: fuzz-artifacts/$name.log; reproducer: $(ls fuzz-artifacts/"$name"-* 2>/dev/null | head -n 1)"
    fi
done

if [ "$found" -eq 0 ]; then
    echo "fuzz/run.sh: no fuzz targets under $builddir/fuzz (configure with CC=clang --enable-fuzzing and run make)" >&2
    exit 1
fi
[ "$failed" -eq 0 ]
