#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/peers: evstreamd against nginx+nchan (1 worker) and mosquitto (MQTT over WebSocket),
# all three on loopback, driven by the same fan-out client (bench/peers/fanout.c), in
# interleaved rounds (every cell runs the three servers back to back, so a busy shared machine
# hits them alike). One Markdown table per round on stdout. See docs/performance.md.
#
#   bench/peers/run.sh install           install the peers (Debian packages; bench only)
#   bench/peers/run.sh [options]         build evstreamd + fanout if needed, run
#     --build DIR      build directory (default build/bench-peers, RelWithDebInfo)
#     --rounds N       rounds (default 3)
#     --secs T         seconds per timed cell (default 3)
#     --threads T      client reader threads (default 2)
#     --burst N        events in the burst cell at S=100 (default 20000; 0: no burst cell)
#     --only LIST      servers to drive, comma-separated: evs,nchan,mqtt (default all three)
#     --evs-args "..." extra evstreamd options
#     --publishers P   publisher connections (default 2)
#     --cells "S:R .." cells to run (default "1:0 10:0 100:0 1:1000 10:1000 100:1000", R 0 = max)
#     --trace          latency breakdown: build with -DEVS_BENCH_TRACE=ON (default build dir
#                      build/bench-trace), record evstreamd's hop timestamps, print their table
#                      (bench/peers/hops.py) at the end; use with --publishers 1 at a paced rate
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ "${1:-}" = install ]; then
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
        nginx libnginx-mod-nchan mosquitto
    exit 0
fi

build= rounds=3 secs=3 threads=2 burst=20000 only=evs,nchan,mqtt evs_args= pubs=2 trace=
cells="1:0 10:0 100:0 1:1000 10:1000 100:1000"
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2 ;;
    --rounds) rounds=$2 ;;
    --secs) secs=$2 ;;
    --threads) threads=$2 ;;
    --burst) burst=$2 ;;
    --only) only=$2 ;;
    --evs-args) evs_args=$2 ;;
    --publishers) pubs=$2 ;;
    --cells) cells=$2 ;;
    --trace) trace=1; shift; continue ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done

for b in nginx mosquitto; do
    command -v $b >/dev/null 2>&1 || [ -x /usr/sbin/$b ] || {
        echo "$b missing: run $0 install" >&2; exit 2; }
done
[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || { echo "nchan missing: $0 install" >&2; exit 2; }

if [ -z "$build" ]; then
    build=$root/build/bench-peers
    [ -z "$trace" ] || build=$root/build/bench-trace
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
    tr=OFF
    [ -z "$trace" ] || tr=ON
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEVS_BENCH_TRACE=$tr >/dev/null
fi
nice -n 10 cmake --build "$build" -j2 --target evstreamd fanout >/dev/null
evsd=$build/main/evstreamd fanout=$build/bench/fanout

base=${EVS_PEERS_PORT:-18900}
p_evs=$((base + 1)) p_nchan=$((base + 2)) p_mq=$((base + 3)) p_mqws=$((base + 4))
dir=$(mktemp -d /tmp/evs-peers-XXXXXX)
pids= evs_pid=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait "$evs_pid" 2>/dev/null || true # evstreamd writes its hop file at exit
    sleep 0.3
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# --- nginx + nchan, one worker ------------------------------------------------------------
mkdir -p "$dir/nginx"
cat >"$dir/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
daemon off;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    server {
        listen 127.0.0.1:$p_nchan;
        # one channel per cell (?id=), new subscribers start at the newest message
        location = /pub { nchan_publisher; nchan_channel_id \$arg_id; }
        location = /sub {
            nchan_subscriber websocket;
            nchan_channel_id \$arg_id;
            nchan_subscriber_first_message newest;
        }
    }
}
EOF
nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx" &
pids="$pids $!"
nginx_master=$!

# --- mosquitto: TCP for the publishers, WebSocket for the subscribers ------------------------
cat >"$dir/mosquitto.conf" <<EOF
per_listener_settings false
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
set_tcp_nodelay true
max_queued_messages 100000
listener $p_mq 127.0.0.1
listener $p_mqws 127.0.0.1
protocol websockets
EOF
mosquitto -c "$dir/mosquitto.conf" 2>"$dir/mosquitto.log" &
pids="$pids $!"
mq_pid=$!

# --- evstreamd ----------------------------------------------------------------------------
if [ -n "$trace" ]; then
    EVS_TRACE_FILE=$dir/hops.txt
    export EVS_TRACE_FILE
fi
# shellcheck disable=SC2086
"$evsd" --port $p_evs --bind 127.0.0.1 --db "$dir/evs.db" --admin-token peers-admin \
    --no-demo --log-level warn $evs_args 2>"$dir/evstreamd.log" &
pids="$pids $!"
evs_pid=$!

wait_port() {
    i=0
    while ! curl -s -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "port $1 did not open" >&2; exit 1; }
        sleep 0.1
    done
}
wait_port $p_nchan
wait_port $p_evs
sleep 0.3
nginx_worker=$(pgrep -P "$nginx_master" | head -1)

resp=$(curl -s -X POST -H 'Authorization: Bearer peers-admin' -H 'Content-Type: application/json' \
    -d '{"name":"peers"}' "http://127.0.0.1:$p_evs/api/v1/projects")
proj=$(echo "$resp" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
ingest=$(echo "$resp" | sed -n 's/.*"ingest_key":"\([^"]*\)".*/\1/p')
token=$(echo "$resp" | sed -n 's/.*"dashboard_token":"\([^"]*\)".*/\1/p')
[ -n "$proj" ] && [ -n "$ingest" ] || { echo "project: $resp" >&2; exit 1; }

mem() { # pid list -> "threads / VmSize KiB / VmRSS KiB" summed
    t=0 v=0 r=0
    for p in "$@"; do
        t=$((t + $(awk '/^Threads:/{print $2}' /proc/$p/status)))
        v=$((v + $(awk '/^VmSize:/{print $2}' /proc/$p/status)))
        r=$((r + $(awk '/^VmRSS:/{print $2}' /proc/$p/status)))
    done
    echo "$t threads, VmSize $v KiB, RSS $r KiB"
}

echo "# bench/peers $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# evstreamd $("$evsd" --version 2>&1 | head -1) $evs_args; $(nginx -v 2>&1) with nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null); mosquitto $(dpkg-query -W -f '${Version}' mosquitto 2>/dev/null)"
echo "# idle: evstreamd $(mem $evs_pid); nginx master+worker $(mem $nginx_master $nginx_worker); mosquitto $(mem $mq_pid)"
echo "# client: $threads reader threads, $pubs publishers waiting for each answer (HTTP 2xx / MQTT PUBACK), ${secs}s per timed cell"

drive() { # server subs rate|burst:N
    srv=$1 subs=$2 what=$3
    case $what in
    burst:*) load="--burst ${what#burst:}" ;;
    *) load="--rate $what --secs $secs" ;;
    esac
    cell=$((cell + 1))
    case $srv in
    evs) "$fanout" --target evs --port $p_evs --path "/stream/projects/$proj?token=$token" \
        --pub-path /api/v1/events --key "$ingest" --pids $evs_pid --subs "$subs" \
        --threads "$threads" --publishers "$pubs" $load ;;
    nchan) "$fanout" --target nchan --port $p_nchan --path "/sub?id=c$cell" --pub-path "/pub?id=c$cell" \
        --pids "$nginx_master,$nginx_worker" --subs "$subs" --threads "$threads" --publishers "$pubs" $load ;;
    mqtt) "$fanout" --target mqtt --port $p_mqws --pub-port $p_mq --path /mqtt \
        --pids $mq_pid --subs "$subs" --threads "$threads" --publishers "$pubs" $load ;;
    esac || echo "| $srv | $subs | $what | failed |"
    sleep 0.3
}

cell=0
[ "$burst" -gt 0 ] && cells="$cells 100:burst:$burst"
all_rounds() {
    r=1
    while [ $r -le "$rounds" ]; do
        echo
        echo "## Round $r of $rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))"
        echo
        "$fanout" --header
        for c in $cells; do
            subs=${c%%:*} what=${c#*:}
            for s in $(echo "$only" | tr , ' '); do
                drive "$s" "$subs" "$what"
            done
        done
        r=$((r + 1))
    done
}
all_rounds | tee "$dir/rounds.md"
if [ "$rounds" -gt 1 ]; then
    echo
    echo "## Summary"
    echo
    /usr/bin/python3 "$here/summary.py" "$dir/rounds.md"
fi
echo
echo "# after: evstreamd $(mem $evs_pid); nginx master+worker $(mem $nginx_master $nginx_worker); mosquitto $(mem $mq_pid)"
if [ -n "$trace" ]; then
    kill "$evs_pid"
    wait "$evs_pid" 2>/dev/null || true
    echo
    echo "## evstreamd hops (EVS_BENCH_TRACE)"
    echo
    /usr/bin/python3 "$here/hops.py" "$dir/hops.txt"
fi
