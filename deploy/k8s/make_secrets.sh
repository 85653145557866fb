#!/usr/bin/env bash
# Creates the files an overlay's Secrets are generated from, in OVERLAY/secrets/ (ignored by
# git; keep them in your secret store): random bearer tokens (admin, submitter, worker) and,
# with --tls, a private CA with a certificate for the coordinator's Service names. Existing
# files are kept, so running it again changes nothing.
#
#   deploy/k8s/make_secrets.sh deploy/k8s/overlays/cpu-demo
#   deploy/k8s/make_secrets.sh deploy/k8s/overlays/gpu --tls
set -euo pipefail
overlay="${1:?usage: make_secrets.sh OVERLAY_DIR [--tls]}"
tls="${2:-}"
[ -f "$overlay/kustomization.yaml" ] || { echo "make_secrets.sh: $overlay is not an overlay" >&2; exit 2; }
[ -z "$tls" ] || [ "$tls" = --tls ] || { echo "make_secrets.sh: unknown option $tls" >&2; exit 2; }
dir="$overlay/secrets"
mkdir -p "$dir"
umask 077

token() { openssl rand -hex 24; }
if [ ! -f "$dir/tokens" ]; then
  admin=$(token) submitter=$(token) worker=$(token)
  # The coordinator's --tokens_file: "<token> <role> <name>" per line.
  printf '%s admin ops\n%s submitter ml-team\n%s worker fleet\n' "$admin" "$submitter" "$worker" \
    >"$dir/tokens"
  echo "$admin" >"$dir/admin.token"
  echo "$submitter" >"$dir/submitter.token"
  echo "$worker" >"$dir/worker.token"
  echo "make_secrets.sh: wrote tokens to $dir (admin.token and submitter.token are for ofactl)"
fi

if [ "$tls" = --tls ] && [ ! -f "$dir/tls.crt" ]; then
  names="DNS:ofa-coordinator,DNS:ofa-coordinator.ofa-train,DNS:ofa-coordinator.ofa-train.svc"
  names="$names,DNS:ofa-coordinator.ofa-train.svc.cluster.local,DNS:localhost,IP:127.0.0.1"
  openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj /CN=ofa-train-ca \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:3072 -nodes -subj /CN=ofa-coordinator \
    -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$names" >"$dir/tls.ext"
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 825 -extfile "$dir/tls.ext" -out "$dir/tls.crt" 2>/dev/null
  rm -f "$dir/tls.csr" "$dir/tls.ext" "$dir/ca.srl"
  echo "make_secrets.sh: wrote a CA (ca.pem, ca.key: keep the key offline) and the" \
    "coordinator's certificate (tls.crt, tls.key) to $dir"
fi
