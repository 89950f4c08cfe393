#!/usr/bin/env bash
# Console sign-in throughput on this machine, in one line.
#
# Starts a release broker on a throwaway database (demo data) whose only sign-in Region points
# at a loopback endpoint, signs in the demo user alice, and has wrk POST the portal's Console
# form (`/saml/aws/sso`: a Response and its Assertion signed, an audit event written, the
# auto-POST page rendered) for DURATION with CONNS connections, then counts the audit events
# against the answers. Measures the machine's raw RSA-2048 signing rate with
# `openssl speed -multi $(nproc)` just before and just after the load, and prints requests/s, p99, errors, the broker's resident
# memory after the load, its first start to ready, the ratio to the RSA limit (two
# signatures per sign-in) and the broker's CPU time per sign-in.
#
#   bash benches/console.sh                     # SQLite, 16 connections, 20 s
#   DB=postgres bash benches/console.sh         # a throwaway PostgreSQL (as the tests start it)
#   CONNS=32 DURATION=30s bash benches/console.sh
#   PERF=/tmp/console.perf bash benches/console.sh   # also `perf record -g` the broker under load
#   FEDBROKER_BIN=/tmp/fedbroker-old FEDBROKER_CONFIG_DIR=/tmp/old/config bash benches/console.sh
#                                               # another build (with its own config), side by side
#
# Not a timed test: CI does not run it. Numbers from it go in docs/scaling.md.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-16}
DURATION=${DURATION:-20s}
DB=${DB:-sqlite}
THREADS=${THREADS:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

tools="wrk openssl python3 curl"
[ "$DB" = postgres ] && tools="$tools psql"
for tool in $tools; do
  command -v "$tool" >/dev/null || { echo "benches/console.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done

# FEDBROKER_BIN: measure another build (an earlier version, side by side) instead of this tree's.
if [ -n "${FEDBROKER_BIN:-}" ]; then
  bin=$FEDBROKER_BIN
else
  cargo build --release --quiet --bin fedbroker
  bin="$CARGO_TARGET_DIR/release/fedbroker"
fi

work=$(mktemp -d "${BENCH_TMP:-/tmp}/fedbroker-bench.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The AWS sign-in endpoint stand-in: the broker only probes it (any answer below 500 is healthy);
# the Responses themselves go back to the client in the auto-POST page.
endpoint_port=$(free_port)
mkdir -p "$work/endpoint"
python3 -m http.server --bind 127.0.0.1 --directory "$work/endpoint" "$endpoint_port" \
  >/dev/null 2>&1 &
pids+=($!)

if [ "$DB" = postgres ]; then
  # The tests' throwaway PostgreSQL (fsync off: this measures the broker, not the disk).
  source .ci/postgres >/dev/null || { cleanup; exit 1; }
  trap 'cleanup; pg_stop' EXIT
  url="$FEDBROKER_TEST_PG_URL"
  export FEDBROKER__SAML__KEY_ENCRYPTION_KEY
  FEDBROKER__SAML__KEY_ENCRYPTION_KEY=$(openssl rand -base64 32)
else
  url="sqlite://$work/fedbroker.db"
fi

port=$(free_port)
started=$(date +%s%N)
FEDBROKER_CONFIG_DIR="${FEDBROKER_CONFIG_DIR:-$PWD/config}" \
FEDBROKER__DATABASE__URL="$url" \
FEDBROKER__SERVER__PORT="$port" \
FEDBROKER__SERVER__PUBLIC_URL="http://127.0.0.1:$port" \
FEDBROKER__REGIONS__ACS="[\"us-east-2=http://127.0.0.1:$endpoint_port/saml\"]" \
FEDBROKER_BOOTSTRAP_ADMIN_PASSWORD="bench-admin-password-0000" \
RUST_LOG=warn \
  "$bin" serve --demo >"$work/broker.log" 2>&1 &
broker=$!
pids+=($broker)
# First start on an empty database (migrations, the first signing key, demo users) to ready.
for _ in $(seq 1 1000); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.01
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/broker.log" >&2; exit 1; }
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))

# Sign in as alice and read the session cookie, the form's CSRF token and her first role.
read -r cookie csrf role < <(python3 - "$port" <<'PY'
import html, re, sys, urllib.parse, urllib.request
port = sys.argv[1]
base = f"http://127.0.0.1:{port}"
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None
opener = urllib.request.build_opener(NoRedirect)
def cookies(res):
    return dict(c.split(";")[0].split("=", 1) for c in res.headers.get_all("Set-Cookie") or [])
res = opener.open(base + "/login")
jar = cookies(res)
token = re.search(r'name="csrf_token" value="([^"]+)"', res.read().decode()).group(1)
body = urllib.parse.urlencode({"csrf_token": token, "next": "/", "source": "local",
                               "username": "alice", "password": "alice-demo-password"}).encode()
req = urllib.request.Request(base + "/login", data=body,
                             headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})
try:
    opener.open(req)
except urllib.error.HTTPError as e:
    jar.update(cookies(e))
session = "__Host-fedbroker-session=" + jar["__Host-fedbroker-session"]
page = opener.open(urllib.request.Request(base + "/", headers={"Cookie": session})).read().decode()
csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
role = html.unescape(re.search(r'name="role" value="(arn:[^"]+)"', page).group(1))
print(session, csrf, role)
PY
)

body="csrf_token=$csrf&role=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$role")&region="
cat >"$work/console.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "$cookie"
wrk.body = "$body"
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("WRK %d %.1f %.2f %.2f %d %.2f %.2f %.2f\n", summary.requests,
    summary.requests / (summary.duration / 1e6), latency.mean / 1000,
    latency:percentile(99) / 1000, errors, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency.max / 1000))
end
LUA

# One request first: a wrong cookie or token would otherwise measure the sign-in page.
status=$(curl -s -o "$work/first.html" -w '%{http_code}' -X POST \
  -H "Cookie: $cookie" --data-raw "$body" \
  "http://127.0.0.1:$port/saml/aws/sso")
grep -q SAMLResponse "$work/first.html" || { echo "the console sign-in did not answer a SAML Response (HTTP $status)" >&2; exit 1; }

rsa_rate() {
  openssl speed -multi "$(nproc)" -seconds 3 rsa2048 2>/dev/null \
    | awk '/^rsa 2048 bits/ {print $(NF-1)}' | tail -1
}
rsa_before=$(rsa_rate)

# The broker's CPU time (user + system, all threads) in clock ticks: what a sign-in costs the
# machine outside wrk, steadier from run to run on a shared VM than the throughput is.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$broker/stat"; }
cpu_before=$(cpu_ticks)

if [ -n "${PERF:-}" ]; then
  perf record -g -F 499 -a -o "$PERF" >/dev/null 2>&1 &
  perf_pid=$!
fi
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$work/console.lua" \
  "http://127.0.0.1:$port/saml/aws/sso" >"$work/wrk.out"
if [ -n "${PERF:-}" ]; then
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
fi
read -r _ total rps mean p99 errors p50 p90 max < <(grep '^WRK ' "$work/wrk.out")
cpu_us=$(python3 -c "print(round(($(cpu_ticks) - $cpu_before) * 1e6 / $(getconf CLK_TCK) / $total))")
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$broker/status")
# Every answered sign-in must have its audit event (the one before wrk included).
query="SELECT COUNT(*) FROM audit_events WHERE event_type = 'assertion.issued'"
if [ "$DB" = postgres ]; then
  events=$(psql "$url" -tAc "$query")
else
  events=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' \
    "$work/fedbroker.db" "$query")
fi

# The machine's RSA-2048 signing rate with every core busy, measured just before and just after
# the load (a shared VM's speed drifts within a minute): their mean, two signatures per sign-in.
rsa_after=$(rsa_rate)
rsa=$(python3 -c "print(round(($rsa_before + $rsa_after) / 2, 1))")
limit=$(python3 -c "print(round($rsa / 2))")
ratio=$(python3 -c "print(f'{$rps / ($rsa / 2):.2f}')")

answers=$((total - errors + 1))
printf 'console sign-in (%s, %s conns, %s): %s req/s, mean %s ms, p99 %s ms, %s errors of %s, %s assertion.issued events for %s answers, RSS %s MB, first start to ready %s ms; RSA limit %s/s (%s sign/s / 2: %s before, %s after), ratio %s; latency p50 %s, p90 %s, max %s ms; broker CPU %s us per sign-in\n' \
  "$DB" "$CONNS" "$DURATION" "$rps" "$mean" "$p99" "$errors" "$total" "$events" "$answers" \
  "$((rss_kb / 1024))" "$ready_ms" "$limit" "$rsa" "$rsa_before" "$rsa_after" "$ratio" \
  "$p50" "$p90" "$max" "$cpu_us"
# Every answered sign-in has its event (more events: requests wrk abandoned in flight).
if [ "$events" -lt "$answers" ]; then
  echo "audit incomplete: $events assertion.issued events for $answers answered sign-ins" >&2
  exit 1
fi
