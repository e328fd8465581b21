#!/usr/bin/env bash
# Benchmark pki against the tools people would use instead, side by side in
# one run, and write docs/benchmarks.md.
#
#   bash bench/run.sh            # about 10-15 minutes on 2 cores
#
# (a) a root CA and one user: pki vs the documented openssl commands, cfssl, easy-rsa
# (b) 100 more users into an existing CA: the same four
# (c) pki check and a no-op pki rotate at 1,000 and 10,000 users (pki list
#     stands in for a command this build does not have yet, and the report says so)
# (d) peak resident memory of each, from /usr/bin/time -f %M
#
# Medians come from hyperfine --export-json. All keys are RSA-2048 except the
# 1,000/10,000-user stores for (c), which are issued with ECDSA P-256 keys
# once and kept in $PKI_BENCH_CACHE (default target/bench-stores): (c)
# measures reading the index, which does not depend on the key type, and
# 10,000 RSA keys would take about 10 minutes on 2 cores.
#
# Environment: RUNS_A (default 10), RUNS_B (3), RUNS_B_EASYRSA (2), RUNS_C (10).
# Raw results stay in target/bench-results; `bash bench/run.sh --report-only`
# rewrites the report from them without measuring again.
# This script is not part of the test suite.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_MD="$ROOT/docs/benchmarks.md"
CACHE=${PKI_BENCH_CACHE:-$ROOT/target/bench-stores}
RUNS_A=${RUNS_A:-10}
RUNS_B=${RUNS_B:-3}
RUNS_B_EASYRSA=${RUNS_B_EASYRSA:-2}
RUNS_C=${RUNS_C:-10}
RESULTS=$ROOT/target/bench-results
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$(dirname "$OUT_MD")" "$RESULTS"
START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

say() { printf '== %s\n' "$*" >&2; }

if [ "${1:-}" != --report-only ]; then
rm -rf "$RESULTS" && mkdir -p "$RESULTS/json"
echo "$LOAD_START" >"$RESULTS/load"

# --- peers ---------------------------------------------------------------
EASYRSA=/usr/share/easy-rsa/easyrsa
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v cfssl >/dev/null && command -v cfssljson >/dev/null || need+=(golang-cfssl)
[ -x "$EASYRSA" ] || need+=(easy-rsa)
[ -x /usr/bin/time ] || need+=(time)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- pki -----------------------------------------------------------------
say "building pki (release)"
(cd "$ROOT" && cargo build --release --quiet)
PKI="$ROOT/target/release/pki"
has() { "$PKI" "$1" --help >/dev/null 2>&1; }

# --- fixtures ------------------------------------------------------------
F="$WORK/fixtures"
mkdir -p "$F"
seq -f 'user%03g' 1 100 >"$F/users100.txt"
cat >"$F/ca-csr.json" <<'EOF'
{"CN": "rootCA", "key": {"algo": "rsa", "size": 2048}}
EOF
cat >"$F/cfssl.json" <<'EOF'
{"signing": {"default": {"expiry": "8760h"},
 "profiles": {"client": {"expiry": "8760h", "usages": ["signing", "key encipherment", "client auth"]}}}}
EOF
for u in myuser $(cat "$F/users100.txt"); do
    printf '{"CN": "%s", "key": {"algo": "rsa", "size": 2048}}\n' "$u" >"$F/$u-csr.json"
done

# One script per procedure, run in the current directory. hyperfine's
# --prepare empties (or re-seeds) that directory before every run.
B="$WORK/bin"
mkdir -p "$B"
cat >"$B/openssl-ca.sh" <<'EOF'
set -e
openssl genrsa -out rootCA.key 2048 2>/dev/null
openssl req -x509 -new -nodes -key rootCA.key -sha256 -days 365 -subj /CN=rootCA -out rootCA.crt
EOF
cat >"$B/openssl-user.sh" <<'EOF'
set -e
for u in "$@"; do
  openssl genrsa -out "$u.key" 2048 2>/dev/null
  openssl req -new -key "$u.key" -subj "/CN=$u" -out "$u.csr"
  openssl x509 -req -in "$u.csr" -CA rootCA.crt -CAkey rootCA.key -CAcreateserial -out "$u.crt" -days 365 -sha256 2>/dev/null
done
EOF
cat >"$B/cfssl-ca.sh" <<EOF
set -e
cfssl gencert -loglevel 5 -initca "$F/ca-csr.json" | cfssljson -bare ca
EOF
cat >"$B/cfssl-user.sh" <<EOF
set -e
for u in "\$@"; do
  cfssl gencert -loglevel 5 -ca ca.pem -ca-key ca-key.pem -config "$F/cfssl.json" -profile client "$F/\$u-csr.json" | cfssljson -bare "\$u"
done
EOF
cat >"$B/easyrsa-ca.sh" <<EOF
set -e
export EASYRSA_BATCH=1 EASYRSA_PKI="\$PWD/pki" EASYRSA_KEY_SIZE=2048 EASYRSA_CA_EXPIRE=365 EASYRSA_CERT_EXPIRE=365
"$EASYRSA" init-pki >/dev/null 2>&1
"$EASYRSA" --req-cn=rootCA build-ca nopass >/dev/null 2>&1
EOF
cat >"$B/easyrsa-user.sh" <<EOF
set -e
export EASYRSA_BATCH=1 EASYRSA_PKI="\$PWD/pki" EASYRSA_KEY_SIZE=2048 EASYRSA_CERT_EXPIRE=365
for u in "\$@"; do "$EASYRSA" build-client-full "\$u" nopass >/dev/null 2>&1; done
EOF
cat >"$B/pki-ca.sh" <<EOF
set -e
"$PKI" init -q
EOF
cat >"$B/pki-user.sh" <<EOF
set -e
if [ "\$1" = --from ]; then "$PKI" -q issue --from "\$2"; else "$PKI" -q issue "\$@"; fi
EOF

# A CA-only directory per tool, made once, copied before each (b) run.
for tool in pki openssl cfssl easyrsa; do
    mkdir -p "$WORK/seed-$tool"
    (cd "$WORK/seed-$tool" && bash "$B/$tool-ca.sh")
done

J="$RESULTS/json"
# peak RSS in KiB of one run of a command, in a directory prepared by $2.
peak() { # name prepare-cmd cmd
    local name=$1 prep=$2 cmd=$3
    (cd "$WORK/run" && eval "$prep" && /usr/bin/time -f %M -o "$WORK/mem-$name" bash -c "$cmd" >/dev/null 2>&1)
    printf '%s\t%s\n' "$name" "$(tail -1 "$WORK/mem-$name")" >>"$RESULTS/mem.txt"
}
# bench NAME RUNS PREPARE CMD
bench() {
    local name=$1 runs=$2 prep=$3 cmd=$4
    say "$name ($runs runs)"
    mkdir -p "$WORK/run"
    (cd "$WORK/run" && hyperfine --style basic --runs "$runs" --warmup 0 \
        --prepare "cd $WORK/run && $prep" --export-json "$J/$name.json" \
        --command-name "$name" "cd $WORK/run && $cmd" >/dev/null)
    peak "$name" "$prep" "$cmd"
}
fresh='find . -mindepth 1 -delete'
seeded() { echo "$fresh && cp -a $WORK/seed-$1/. ."; }

# --- (a) CA + one user ---------------------------------------------------
export PKI_DIR=pki
for tool in pki openssl cfssl easyrsa; do
    bench "a-$tool" "$RUNS_A" "$fresh" "bash $B/$tool-ca.sh && bash $B/$tool-user.sh myuser"
done

# --- (b) 100 users into an existing CA -----------------------------------
bench b-pki "$RUNS_B" "$(seeded pki)" "bash $B/pki-user.sh --from $F/users100.txt"
bench b-openssl "$RUNS_B" "$(seeded openssl)" "bash $B/openssl-user.sh \$(cat $F/users100.txt)"
bench b-cfssl "$RUNS_B" "$(seeded cfssl)" "bash $B/cfssl-user.sh \$(cat $F/users100.txt)"
bench b-easyrsa "$RUNS_B_EASYRSA" "$(seeded easyrsa)" "bash $B/easyrsa-user.sh \$(cat $F/users100.txt)"
# and one user into a fresh CA: the single-issue memory figure
bench b-pki-one "$RUNS_A" "$(seeded pki)" "bash $B/pki-user.sh myuser"

# --- (c) check and no-op rotate at 1,000 and 10,000 users -----------------
mkdir -p "$CACHE"
. "$ROOT/bench/stores.sh"
for n in 1000 10000; do
    store=$(bench_store "$n")
    for verb in check rotate; do
        if has "$verb"; then
            cmd="$PKI --dir $store $verb"
        else
            cmd="$PKI --dir $store list"
            printf '%s\t%s\n' "c-$verb-$n" "\`pki $verb\` does not exist in this build: \`pki list\` (which reads the same index) was measured in its place" >>"$RESULTS/notes.txt"
        fi
        # Work on a copy, so a rotate that does write cannot change the cached store.
        rm -rf "$WORK/c-store" && cp -a "$store" "$WORK/c-store"
        bench "c-$verb-$n" "$RUNS_C" "true" "${cmd//$store/$WORK/c-store} >/dev/null"
    done
done

ELAPSED=$(($(date +%s) - START))
echo "$ELAPSED" >"$RESULTS/elapsed"
date -u '+%Y-%m-%d (%H:%M UTC)' >"$RESULTS/date"
fi

# --- report --------------------------------------------------------------
PKI="$ROOT/target/release/pki"
J="$RESULTS/json"
ELAPSED=$(cat "$RESULTS/elapsed")
LOAD_START=$(cat "$RESULTS/load")
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEMTOTAL=$(free -h | awk '/^Mem:/ {print $2}')
touch "$RESULTS/notes.txt" "$RESULTS/mem.txt"
MEM_FILE="$RESULTS/mem.txt"
NOTES_FILE="$RESULTS/notes.txt"

python3 - "$J" "$MEM_FILE" "$NOTES_FILE" "$OUT_MD.measured" <<EOF
import json, os, sys
jdir, memf, notesf, out = sys.argv[1:5]
res = {}
for f in os.listdir(jdir):
    r = json.load(open(os.path.join(jdir, f)))["results"][0]
    res[f[:-5]] = r
mem = dict(l.rstrip("\n").split("\t") for l in open(memf) if l.strip())
notes = dict(l.rstrip("\n").split("\t", 1) for l in open(notesf) if l.strip())
def ms(k): return res[k]["median"] * 1000
def row(k, label, target=""):
    r = res[k]
    mib = int(mem.get(k, "0")) / 1024
    return f"| {label} | {r['median']*1000:,.0f} | {r['min']*1000:,.0f} | {r['max']*1000:,.0f} | {len(r['times'])} | {mib:.1f} | {target} |"
L = []
L.append("| case | median ms | min ms | max ms | runs | peak RSS MiB | ratio pki / this |")
L.append("|---|---:|---:|---:|---:|---:|---|")
for part, label in (("a", "CA + one user"), ("b", "100 users into an existing CA")):
    for tool, name in (("pki", "pki"), ("openssl", "openssl (documented commands)"), ("cfssl", "cfssl"), ("easyrsa", "easy-rsa")):
        k = f"{part}-{tool}"
        ratio = "" if tool == "pki" else f"{ms(part + '-pki') / ms(k):.2f}x"
        L.append(row(k, f"({part}) {label}: {name}", ratio))
L.append(row("b-pki-one", "(b) one user into a fresh CA: pki"))
for n in ("1000", "10000"):
    for verb in ("check", "rotate"):
        k = f"c-{verb}-{n}"
        star = " *" if k in notes else ""
        L.append(row(k, f"(c) pki {verb} (no-op), {int(n):,} users{star}"))
L.append("")
for k, v in sorted(notes.items()):
    L.append(f"\\* {k}: {v}.")
L.append("")
def verdict(ok): return "met" if ok else "**missed**"
ta = ms("a-pki") / ms("a-openssl")
tb = ms("b-pki") / ms("b-cfssl")
c10 = [k for k in res if k.startswith("c-") and k.endswith("-10000")]
tc_ms = max(ms(k) for k in c10)
tc_mem = max(int(mem[k]) for k in c10) / 1024
single = int(mem["b-pki-one"]) / 1024
L.append("| target | measured | |")
L.append("|---|---|---|")
L.append(f"| (a) CA + one user <= 0.4x openssl | {ta:.2f}x | {verdict(ta <= 0.4)} |")
L.append(f"| (b) 100 users <= 0.3x cfssl | {tb:.2f}x | {verdict(tb <= 0.3)} |")
L.append(f"| (c) <= 150 ms at 10,000 users | {tc_ms:.0f} ms (slowest of check/rotate) | {verdict(tc_ms <= 150)} |")
L.append(f"| (c) <= 30 MiB peak at 10,000 users | {tc_mem:.1f} MiB | {verdict(tc_mem <= 30)} |")
L.append(f"| single \`pki issue\` <= 15 MiB peak | {single:.1f} MiB | {verdict(single <= 15)} |")
open(out, "w").write("\n".join(L) + "\n")
EOF

{
    echo "# Benchmarks"
    echo
    echo "Measured by \`bash bench/run.sh\` on $(cat "$RESULTS/date"); the run took ${ELAPSED} s."
    echo
    echo "Machine: $(nproc) cores, $CPU, $MEMTOTAL memory; load average at start $LOAD_START"
    echo "(the machine is shared, so absolute times move between runs; ratios measured in"
    echo "the same run are the figures to compare). Versions: $("$PKI" --version), $(openssl version | cut -d' ' -f1-2),"
    echo "cfssl $(cfssl version 2>/dev/null | awk '/Version/ {print $2}'), easy-rsa $(dpkg-query -W -f '${Version}' easy-rsa 2>/dev/null || echo '?'), $(hyperfine --version)."
    echo
    echo "Reproduce: \`bash bench/run.sh\` (installs hyperfine, golang-cfssl, easy-rsa and time"
    echo "with apt-get when missing, builds pki in release mode, writes this file)."
    echo
    echo "## Results"
    echo
    cat "$OUT_MD.measured"
    echo
    echo "## What is measured"
    echo
    echo "- (a) in an empty directory: \`pki init && pki issue myuser\`; openssl: \`genrsa 2048\`,"
    echo "  \`req -x509 -new -nodes -sha256 -days 365 -subj /CN=rootCA\`, \`genrsa 2048\`,"
    echo "  \`req -new -subj /CN=myuser\`, \`x509 -req -CA -CAkey -CAcreateserial -days 365 -sha256\`;"
    echo "  cfssl: \`gencert -initca\` then \`gencert -profile client\` (each piped to cfssljson);"
    echo "  easy-rsa: \`init-pki\`, \`build-ca nopass\`, \`build-client-full myuser nopass\` (batch mode)."
    echo "  Every key is RSA-2048."
    echo "- (b) 100 users into a directory that already holds that tool's CA: \`pki issue --from users.txt\`"
    echo "  (one process, keys generated on every core) versus 100 runs of each peer's per-user commands."
    echo "- (c) \`pki check\` and \`pki rotate\` with nothing due, on stores of 1,000 and 10,000 users built once"
    echo "  with \`--key-type ecdsa-p256\` (what these commands cost is reading the index, which does not depend"
    echo "  on the key type; 10,000 RSA keys would take about 10 minutes on 2 cores) and kept in"
    echo "  \`target/bench-stores\` (\`PKI_BENCH_CACHE\`) for later runs."
    echo "- (d) peak RSS: one extra run of each case under \`/usr/bin/time -f %M\` (for the peers' shell loops, the"
    echo "  largest single process)."
    if [ -f "$ROOT/bench/notes.md" ]; then
        echo
        cat "$ROOT/bench/notes.md"
    fi
    # The directory store against its size: measured by bench/store.sh.
    if [ -f "$ROOT/bench/store-results.md" ]; then
        echo
        cat "$ROOT/bench/store-results.md"
    fi
    # The store on Vault: measured by bench/vault.sh (it needs OpenBao).
    if [ -f "$ROOT/bench/vault-results.md" ]; then
        echo
        cat "$ROOT/bench/vault-results.md"
    fi
} >"$OUT_MD"
rm -f "$OUT_MD.measured"
say "wrote $OUT_MD in ${ELAPSED} s"
