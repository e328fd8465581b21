#!/usr/bin/env bash
# The directory store's costs against its size, side by side in one run,
# written as bench/store-results.md (docs/benchmarks.md includes it):
#
#   bash bench/store.sh          # 10-20 minutes on 2 cores, the first time
#
# (s1) a no-op `pki check` and a no-op `pki rotate` at 10,000 and 50,000 users
# (s2) one `pki issue` of a new user, and one `pki revoke` of a current
#      user, in the 50,000-user store
# (s3) 100 ECDSA P-256 users in one `pki issue --from` into a fresh CA, and
#      `openssl ecparam -genkey` x100 spread over two processes (xargs -P2)
#
# Stores are issued with ECDSA P-256 keys once and kept in $PKI_BENCH_CACHE
# (default target/bench-stores, shared with bench/run.sh). (s2) works on a
# copy, made before the runs: each run issues (or revokes) another user, so
# the store grows by ten users in a run of 50,000.
# Environment: RUNS_S (default 10). Needs hyperfine and openssl.
# This script is not part of the test suite.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/bench/store-results.md"
CACHE=${PKI_BENCH_CACHE:-$ROOT/target/bench-stores}
RUNS=${RUNS_S:-10}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
J="$WORK/json"
mkdir -p "$J" "$CACHE"
say() { printf '== %s\n' "$*" >&2; }
START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

command -v hyperfine >/dev/null || { say "hyperfine missing (apt-get install hyperfine)"; exit 1; }
(cd "$ROOT" && cargo build --release --quiet)
PKI="$ROOT/target/release/pki"

# bench NAME CMD [PREPARE]
bench() {
    say "$1 ($RUNS runs)"
    hyperfine --style basic --runs "$RUNS" --warmup 1 ${3:+--prepare "$3"} \
        --export-json "$J/$1.json" --command-name "$1" "$2" >/dev/null
}

. "$ROOT/bench/stores.sh"
for n in 10000 50000; do
    store=$(bench_store "$n")
    rm -rf "$WORK/s" && cp -a "$store" "$WORK/s"
    # (s1) side by side: the no-op rotate against the check it should cost.
    bench "check-$n" "$PKI --dir $WORK/s check >/dev/null"
    bench "rotate-$n" "$PKI --dir $WORK/s rotate >/dev/null"
done

# (s2) one change into the 50,000-user store: a counter gives each run its
# own user (new for issue, current for revoke).
echo 1 >"$WORK/next"
next='n=$(cat '"$WORK"'/next); echo $((n + 1)) >'"$WORK"'/next'
bench issue-50000 "$next; $PKI -q --dir $WORK/s issue --key-type ecdsa-p256 new\$n"
echo 1 >"$WORK/next"
bench revoke-50000 "$next; $PKI -q --dir $WORK/s revoke user\$(printf %05d \$n)"
rm -rf "$WORK/s"

# (s3) a 100-user ECDSA batch against openssl's key generation alone.
seq -f 'user%03g' 1 100 >"$WORK/users100.txt"
PKI_DIR="$WORK/seed" "$PKI" init -q --key-type ecdsa-p256
bench batch-pki "$PKI -q --dir $WORK/b issue --key-type ecdsa-p256 --from $WORK/users100.txt" \
    "rm -rf $WORK/b && cp -a $WORK/seed $WORK/b"
bench batch-openssl "seq 1 100 | xargs -P2 -I{} openssl ecparam -genkey -name prime256v1 -noout -out $WORK/o/{}.key" \
    "rm -rf $WORK/o && mkdir $WORK/o"

ELAPSED=$(($(date +%s) - START))
python3 - "$J" "$OUT" "$ELAPSED" "$LOAD_START" "$(date -u '+%Y-%m-%d (%H:%M UTC)')" <<'EOF'
import json, os, sys
jdir, out, elapsed, load, when = sys.argv[1:6]
res = {f[:-5]: json.load(open(os.path.join(jdir, f)))["results"][0] for f in os.listdir(jdir)}
def ms(k): return res[k]["median"] * 1000
def row(k, label):
    r = res[k]
    return f"| {label} | {r['median']*1000:,.1f} | {r['min']*1000:,.1f} | {r['max']*1000:,.1f} | {len(r['times'])} |"
def verdict(ok): return "met" if ok else "**missed**"
L = ["## The directory store against its size (bench/store.sh)", "",
     f"Measured by `bash bench/store.sh` on {when}; the run took {elapsed} s; load average at start {load}.",
     "ECDSA P-256 stores; the commands of each pair ran one after the other in one run.", "",
     "| case | median ms | min ms | max ms | runs |", "|---|---:|---:|---:|---:|"]
for n in ("10000", "50000"):
    L.append(row(f"check-{n}", f"(s1) pki check (no-op), {int(n):,} users"))
    L.append(row(f"rotate-{n}", f"(s1) pki rotate (no-op), {int(n):,} users"))
L.append(row("issue-50000", "(s2) pki issue of one new user, 50,000 users"))
L.append(row("revoke-50000", "(s2) pki revoke of one user, 50,000 users"))
L.append(row("batch-pki", "(s3) pki issue --from, 100 ECDSA users"))
L.append(row("batch-openssl", "(s3) openssl ecparam -genkey x100, two processes"))
L += ["", "| target | measured | |", "|---|---|---|"]
for n in ("10000", "50000"):
    r = ms(f"rotate-{n}") / ms(f"check-{n}")
    L.append(f"| no-op rotate within 1.2x of no-op check, {int(n):,} users | {r:.2f}x | {verdict(r <= 1.2)} |")
for verb in ("issue", "revoke"):
    t = ms(f"{verb}-50000")
    L.append(f"| one {verb} into 50,000 users under 40 ms | {t:,.0f} ms | {verdict(t < 40)} |")
r = ms("batch-pki") / ms("batch-openssl")
L.append(f"| 100-user ECDSA batch within 1.1x of openssl ecparam x100 | {r:.2f}x | {verdict(r <= 1.1)} |")
open(out, "w").write("\n".join(L) + "\n")
EOF
say "wrote $OUT in ${ELAPSED} s"
