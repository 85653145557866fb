#!/usr/bin/env bash
# TLS and tokens on the real binaries: a coordinator with a certificate (and, second, mutual
# TLS) serves ofactl and a worker that trust its CA, and refuses plaintext clients.
set -uo pipefail
coordinator_bin="$1" worker_bin="$2" trainer_bin="$3" ofactl_bin="$4"
tmp="${TEST_TMPDIR:-$(mktemp -d)}/tls"
rm -rf "$tmp" && mkdir -p "$tmp"
failures=0
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done' EXIT
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }

# A throwaway CA, and server and client certificates it signs, valid for 127.0.0.1.
cd "$tmp"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca 2>/dev/null
for who in server client; do
  openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj /CN=$who 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >$who.ext
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $who.pem \
    -days 1 -extfile $who.ext 2>/dev/null
done
cd - >/dev/null
printf 'alice-token-0123456789 submitter alice\nworker-token-0123456789 worker fleet\n' >"$tmp/tokens"
echo worker-token-0123456789 >"$tmp/worker.token"

start() {  # start NAME EXTRA_FLAGS...
  local name="$1"; shift
  rm -f "$tmp/port"
  "$coordinator_bin" --listen=127.0.0.1:0 --port_file="$tmp/port" --state_dir="$tmp/$name" \
    --metrics_listen=127.0.0.1:0 \
    --tokens_file="$tmp/tokens" --tls_cert="$tmp/server.pem" --tls_key="$tmp/server.key" "$@" \
    >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  port=$(cat "$tmp/port")
}
ctl() { OFA_TOKEN=alice-token-0123456789 "$ofactl_bin" --coordinator="127.0.0.1:$port" "$@"; }

start server-tls
out=$(ctl list --tls_ca="$tmp/ca.pem" 2>&1) && ok "ofactl over TLS" || fail "ofactl over TLS: $out"
out=$(ctl list 2>&1)
[ $? -eq 2 ] && grep -q UNAVAILABLE <<<"$out" && ok "a plaintext client is refused" ||
  fail "plaintext client: $out"
"$worker_bin" --coordinator="127.0.0.1:$port" --tls_ca="$tmp/ca.pem" --token_file="$tmp/worker.token" \
  --hostname=tls-node --gpus=none --trainer="$trainer_bin" --storage_root="$tmp/storage" >"$tmp/worker.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "registered as" "$tmp/worker.log" && break; sleep 0.2; done
grep -q "registered as" "$tmp/worker.log" && ok "a worker registers over TLS with its token" ||
  fail "worker over TLS: $(cat "$tmp/worker.log")"

# Kubernetes' gRPC probes speak no TLS: --health_listen serves only the health service,
# plaintext, even under mutual TLS.
health_port=$((20000 + RANDOM % 40000))
start server-mtls --tls_client_ca="$tmp/ca.pem" --health_listen="127.0.0.1:$health_port"
out=$(ctl list --tls_ca="$tmp/ca.pem" 2>&1)
[ $? -eq 2 ] && ok "mutual TLS refuses a client without a certificate" || fail "mTLS without cert: $out"
out=$("$ofactl_bin" --coordinator="127.0.0.1:$health_port" health 2>&1)
[ "$out" = SERVING ] && ok "the plaintext health port answers SERVING under mutual TLS" ||
  fail "health port: $out ($(cat "$tmp/server-mtls.log"))"
out=$("$ofactl_bin" --coordinator="127.0.0.1:$health_port" list 2>&1)
[ $? -eq 2 ] && grep -q UNIMPLEMENTED <<<"$out" && ok "the health port serves nothing else" ||
  fail "health port served: $out"

out=$("$coordinator_bin" --state_dir="$tmp/x" --tls_cert="$tmp/server.pem" 2>&1)
[ $? -eq 2 ] && grep -q "tls_cert and --tls_key go together" <<<"$out" &&
  ok "a certificate without its key is a clear error" || fail "cert without key: $out"

[ $failures -eq 0 ]
