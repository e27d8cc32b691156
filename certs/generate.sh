#!/usr/bin/env bash
# Makes a CA and a serving certificate for the webhook's Service with openssl:
# tls.crt, tls.key and ca.crt, the same three files `lameduck certs` writes.
# For local development and the `certs.mode=existing` / manifests/existing-secret
# flow; in clusters prefer cert-manager or the chart's own certificates.
#
#   certs/generate.sh [--service lameduck] [--namespace lameduck] [--out-dir DIR] [--days 365]
#
# DIR defaults to this directory, whose .gitignore keeps the keys out of git.
# The CA key is thrown away: to renew, run again and update the caBundle.
set -euo pipefail

service=lameduck
namespace=lameduck
out_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
days=365

usage() { sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --service) service=$2; shift 2 ;;
    --namespace) namespace=$2; shift 2 ;;
    --out-dir) out_dir=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }
mkdir -p "$out_dir"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
umask 077

fqdn="$service.$namespace.svc"
# CA: P-256, 10 years, only for signing certificates.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$scratch/ca.key"
openssl req -x509 -new -key "$scratch/ca.key" -sha256 -days 3650 \
  -subj "/CN=$service-ca" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$scratch/ca.crt"

# Serving certificate for every name the API server may use for the Service.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$scratch/tls.key"
openssl req -new -key "$scratch/tls.key" -subj "/CN=$fqdn" -out "$scratch/tls.csr"
cat >"$scratch/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$service,DNS:$service.$namespace,DNS:$fqdn,DNS:$fqdn.cluster.local
EXT
openssl x509 -req -in "$scratch/tls.csr" -CA "$scratch/ca.crt" -CAkey "$scratch/ca.key" \
  -CAcreateserial -sha256 -days "$days" -extfile "$scratch/ext.cnf" -out "$scratch/tls.crt" 2>/dev/null
openssl verify -CAfile "$scratch/ca.crt" "$scratch/tls.crt" >/dev/null

install -m 0644 "$scratch/ca.crt" "$out_dir/ca.crt"
install -m 0644 "$scratch/tls.crt" "$out_dir/tls.crt"
install -m 0600 "$scratch/tls.key" "$out_dir/tls.key"
echo "wrote $out_dir/{tls.crt,tls.key,ca.crt} for $fqdn (valid $days days)" >&2
