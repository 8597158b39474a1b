#!/usr/bin/env bash
# Starts every validator under Nodes/ as its own process, prints their API addresses, and on
# Ctrl-C (or when any node exits) stops all of them and waits, so no process is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${SOCAI_BINARY:-.build/debug/socai}
nodes_dir=${SOCAI_NODES:-Nodes}
pids=()

stop_all() {
    trap - INT TERM EXIT
    if [ ${#pids[@]} -gt 0 ]; then
        echo "localnet: stopping ${#pids[@]} node(s)" >&2
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
}
trap stop_all INT TERM EXIT

for home in "$nodes_dir"/node*/; do
    home=${home%/}
    name=$(basename "$home")
    [ -f "$home/config.json" ] || continue
    api=$("$binary" node info --home "$home" --field api)
    # Process substitution keeps $! the node's own pid (a pipeline would give sed's).
    "$binary" node start --home "$home" > >(sed -u "s/^/[$name] /") 2>&1 &
    pids+=($!)
    echo "localnet: $name API at http://$api (status: curl http://$api/v1/status)"
done
[ ${#pids[@]} -gt 0 ] || { echo "localnet: no nodes under $nodes_dir" >&2; exit 1; }
echo "localnet: ${#pids[@]} validators running; press Ctrl-C to stop them all"
# Returns when the first node exits (or on Ctrl-C); the trap then stops the rest.
wait -n "${pids[@]}" || true
