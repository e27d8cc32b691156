# The e2e cluster's certificates and kubeconfigs, for scripts/e2e.sh (the control plane,
# lameduck and webhook2 on the host), tests/e2e/node/node-ctl.sh (kubelet, kube-proxy)
# and tests/e2e/lib.sh (lameduck's token). Sourced by lib.sh. A cluster lives for one
# run: every key is RSA 2048, every certificate SHA-256 and valid 30 days.
# (certs/generate.sh, the users' openssl script, is separate: see certs/README.md.)
# shellcheck shell=bash

# pki_ca PREFIX CN: a self-signed CA, PREFIX.key and PREFIX.crt.
pki_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -subj "/CN=$2" \
    -days 30 -sha256 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature \
    -out "$1.crt" 2>/dev/null
}

# pki_cert CA PREFIX CN [O] [SAN...]: PREFIX.key and PREFIX.crt for subject /CN=CN[/O=O],
# signed by CA.crt/CA.key (serial kept in CA.srl). A client certificate; with SANs
# (openssl's syntax: IP:127.0.0.1 DNS:localhost) a serving one as well.
pki_cert() {
  local ca=$1 out=$2 cn=$3 org=${4:-} san ext
  shift $(($# < 4 ? $# : 4))
  san=$(IFS=,; echo "$*")
  local newkey=(-newkey rsa:2048) usage=digitalSignature,keyEncipherment
  # PKI_KEY=ec: an ECDSA P-256 key, as the chart and cert-manager make for lameduck.
  if [[ ${PKI_KEY:-rsa} == ec ]]; then
    newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) usage=digitalSignature
  fi
  openssl req -new "${newkey[@]}" -nodes -keyout "$out.key" -subj "/CN=$cn${org:+/O=$org}" \
    -out "$out.csr" 2>/dev/null
  ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,$usage
extendedKeyUsage=${san:+serverAuth,}clientAuth"
  [[ -z $san ]] || ext+=$'\n'"subjectAltName=$san"
  openssl x509 -req -in "$out.csr" -CA "$ca.crt" -CAkey "$ca.key" \
    -CAcreateserial -days 30 -sha256 -extfile <(echo "$ext") -out "$out.crt" 2>/dev/null
  rm -f "$out.csr"
}

# pki_keypair PREFIX: a bare key pair, PREFIX.key and PREFIX.pub (service account tokens).
pki_keypair() {
  openssl genrsa -out "$1.key" 2048 2>/dev/null
  openssl rsa -in "$1.key" -pubout -out "$1.pub" 2>/dev/null
}

# kubeconfig_cert FILE SERVER CA USER CERT: a new kubeconfig FILE whose context `e2e`
# reaches SERVER (trusting CA, a file) as USER with the client certificate CERT.crt and
# CERT.key, everything embedded.
kubeconfig_cert() {
  kubeconfig_write "$1" "$2" "$3" "$4" "" --client-certificate="$5.crt" --client-key="$5.key" --embed-certs=true
}

# kubeconfig_token FILE SERVER CA USER TOKEN [NAMESPACE]: the same with a bearer token,
# the context in NAMESPACE.
kubeconfig_token() { kubeconfig_write "$1" "$2" "$3" "$4" "${6:-}" --token="$5"; }

# kubeconfig_write FILE SERVER CA USER NAMESPACE CREDENTIAL-FLAG...: FILE anew, with one
# cluster, one user (`kubectl config set-credentials` flags) and context `e2e`, current.
kubeconfig_write() {
  local kc=$1 server=$2 ca=$3 user=$4 ns=$5 k
  shift 5
  k=("${E2E_KUBE_BIN:-$E2E_BIN}/kubectl" config --kubeconfig "$kc")
  rm -f "$kc"
  "${k[@]}" set-cluster e2e --server="$server" --certificate-authority="$ca" --embed-certs=true >/dev/null
  "${k[@]}" set-credentials "$user" "$@" >/dev/null
  "${k[@]}" set-context e2e --cluster=e2e --user="$user" ${ns:+--namespace="$ns"} >/dev/null
  "${k[@]}" use-context e2e >/dev/null
}
