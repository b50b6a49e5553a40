#!/bin/sh
# fleetgram's container entrypoint: checks what the container was given, then hands over to
# the binary (with `exec`, so signals reach it: one SIGTERM stops the host, handlers finish
# and the state is committed).
#
#   (no argument) | run [ARGS...]  run the fleet of $FLEETGRAM_CONFIG, the store in
#                                  $FLEETGRAM_STORE, the operator view on $FLEETGRAM_HTTP
#   health [--ready]               exit 0 when the running host is alive (ready)
#   anything else                  passed to `fleetgram` as it is (e.g. `accounts`, `login`)
#
# Settings (environment): FLEETGRAM_CONFIG (default /config/accounts.yaml), FLEETGRAM_STORE
# (default /data), FLEETGRAM_HTTP (default 0.0.0.0:8080), FLEETGRAM_HTTP_TOKEN (the
# operator actions' token), FLEETGRAM_BIN (default fleetgram).
set -eu

config="${FLEETGRAM_CONFIG:-/config/accounts.yaml}"
store="${FLEETGRAM_STORE:-/data}"
http="${FLEETGRAM_HTTP:-0.0.0.0:8080}"
bin="${FLEETGRAM_BIN:-fleetgram}"

fail() {
    code="$1"
    shift
    echo "fleetgram: $*" >&2
    exit "$code"
}

command -v "$bin" >/dev/null 2>&1 || fail 69 "the fleetgram binary ($bin) is not on PATH"

needs_config() {
    [ -f "$config" ] || fail 66 "no accounts file at $config: mount one (docker run -v \"\$PWD/accounts.yaml:$config:ro\" ...) or set FLEETGRAM_CONFIG"
    [ -r "$config" ] || fail 66 "the accounts file $config is not readable by uid $(id -u)"
}

needs_store() {
    mkdir -p "$store" 2>/dev/null || true
    if [ ! -d "$store" ] || [ ! -w "$store" ]; then
        fail 73 "the store $store is not a directory writable by uid $(id -u): mount a volume there (docker run -v fleetgram-data:$store ...) or set FLEETGRAM_STORE"
    fi
}

export FLEETGRAM_STORE="$store"
command="${1:-run}"
if [ "$#" -gt 0 ]; then
    shift
fi

case "$command" in
    run)
        needs_config
        needs_store
        exec "$bin" run "$config" --http "$http" --localdc-info "$store/localdc.json" "$@"
        ;;
    health)
        needs_config
        exec "$bin" health "$config" "$@"
        ;;
    *)
        exec "$bin" "$command" "$@"
        ;;
esac
