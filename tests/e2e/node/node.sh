# The e2e cluster's node: containerd, runc and the CNI plugins from Debian, kubelet and
# kube-proxy from the same Kubernetes build as the control plane. Sourced by
# scripts/e2e.sh, which calls, in this order:
#
#   node_preflight   before the control plane starts: can a node run on this machine?
#                    On success it sets the API server variables e2e.sh reads
#                    (E2E_APISERVER_ADVERTISE, E2E_APISERVER_EXTRA_SANS,
#                    E2E_APISERVER_EXTRA_ARGS) so pods can reach it through the Service
#                    `kubernetes`. On failure it says why on stderr and returns non-zero.
#   node_up          with the control plane running ($E2E_STATE/env written): starts
#                    the node and waits until the Node is Ready.
#   node_down        stops what node_up started and undoes its network changes.
#   images_import    builds the node's images (tests/e2e/images/build.sh) and imports
#                    them into containerd (node_up does it too).
#
# The work happens in node-ctl.sh, a separate bash with `set -e` of its own: e2e.sh calls
# these functions as `if node_up`, where bash ignores `set -e` in the function's body.
# shellcheck shell=bash

E2E_NODE_DIR=${E2E_NODE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}

node_preflight() {
  local out
  out=$(bash "$E2E_NODE_DIR/node-ctl.sh" preflight) || return 1
  # node-ctl.sh prints KEY=VALUE lines for the control plane.
  local line
  while IFS= read -r line; do
    [[ $line == E2E_*=* ]] && export "${line?}"
  done <<<"$out"
  return 0
}

node_up() { bash "$E2E_NODE_DIR/node-ctl.sh" up; }
node_down() { bash "$E2E_NODE_DIR/node-ctl.sh" down; }
images_import() { bash "$E2E_NODE_DIR/node-ctl.sh" images; }
