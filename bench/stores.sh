# Sourced by bench/run.sh and bench/store.sh: the ECDSA stores both measure.
# Needs $CACHE, $PKI, $WORK and say().

# bench_store N: the path of a store of N users with ECDSA P-256 keys, built
# once and kept in $CACHE. v2: stores made since index.json shards past
# 1,000 certificates (docs/formats.md).
bench_store() {
    local n=$1 store="$CACHE/store-$1"
    if [ ! -f "$store/index.json" ] || [ "$(cat "$CACHE/stamp-$n" 2>/dev/null)" != "$n ecdsa-p256 v2" ]; then
        say "building the $n-user store (ECDSA P-256, once; kept in $CACHE)"
        rm -rf "$store"
        seq -f 'user%05g' 1 "$n" >"$WORK/users-$n.txt"
        PKI_DIR="$store" "$PKI" init -q
        PKI_DIR="$store" "$PKI" -q issue --key-type ecdsa-p256 --from "$WORK/users-$n.txt" 2>/dev/null
        echo "$n ecdsa-p256 v2" >"$CACHE/stamp-$n"
    fi
    printf '%s\n' "$store"
}
