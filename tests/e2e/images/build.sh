#!/usr/bin/env bash
# Builds the e2e node's images without a registry or a Docker daemon, as `docker save`
# archives that `ctr -n k8s.io images import` reads (mkimage writes them):
#   localhost/lameduck-pause:e2e   the pod sandbox (tests/e2e/images/pause, static Go)
#   localhost/lameduck-demo:e2e    the demo app (tests/e2e/demo, static Go)
#   localhost/lameduck-nginx:e2e   Debian's nginx binary and the libraries it links
#   localhost/lameduck-queue:e2e   Knative queue-proxy's shutdown protocol (tests/e2e/images/queue;
#                                  the real one's modules are not on the Go module proxy)
#   localhost/lameduck-noop-webhook:e2e  a webhook that admits with no patch (tests/e2e/images/
#                                  noop-webhook): what any webhook costs a pod creation
#   localhost/lameduck-traefik:e2e Traefik, the ingress controller (tests/e2e/build.sh
#                                  builds it into $E2E_CACHE/bin)
#   localhost/lameduck:e2e         lameduck, from the repository's Dockerfile with the
#                                  static release build (as scripts/docker-smoke.sh)
# into $E2E_CACHE/images, each rebuilt only when what it is made from changes.
#
#   tests/e2e/images/build.sh [IMAGE...]   IMAGE: pause demo nginx queue noop-webhook traefik
#                                          lameduck (default all)
# Prints the archive paths, one a line. LAMEDUCK_STATIC: a static lameduck binary to use
# instead of building one.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
E2E_CACHE=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lameduck-e2e}
out=$E2E_CACHE/images
tools=$out/tools
mkdir -p "$tools"
export GOMODCACHE=$E2E_CACHE/gomod GOCACHE=$E2E_CACHE/gocache
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local

say() { printf 'e2e-images: %s\n' "$*" >&2; }

# fresh NAME HASH: the archive exists and was made from inputs with this hash.
fresh() { [[ -f $out/$1.tar && -f $out/$1.stamp && $(cat "$out/$1.stamp") == "$2" ]]; }
stamp() { echo "$2" >"$out/$1.stamp"; }
hash_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

gobuild() { # gobuild MODULE-DIR PACKAGE OUTPUT
  (cd "$1" && go build -trimpath -ldflags='-s -w' -o "$3" "$2")
}

# mkimage is the builder for all of them: built first, cheaply (standard library only).
gobuild "$here" ./mkimage "$tools/mkimage"
mkimage=$tools/mkimage

# static_image NAME BINARY USER [MKIMAGE-ARGS...]: an image of one static binary, /NAME,
# its entrypoint, run as USER; rebuilt when the binary (or mkimage) changes.
static_image() {
  local name=$1 binary=$2 user=$3 h
  shift 3
  h=$(hash_of "$binary" "$mkimage")
  fresh "$name" "$h" || {
    "$mkimage" -o "$out/$name.tar" -t "localhost/lameduck-$name:e2e" \
      -add "$binary:/$name" -entrypoint "[\"/$name\"]" -user "$user" "$@"
    stamp "$name" "$h"
  }
  echo "$out/$name.tar"
}

pause() {
  gobuild "$here" ./pause "$tools/pause"
  # 65535: the UID the upstream pause image runs as.
  static_image pause "$tools/pause" 65535:65535
}

demo() {
  gobuild "$here/../demo" . "$tools/demo"
  static_image demo "$tools/demo" 65532:65532
}

# nginx: the binary, every library ldd names (symlinks resolved to the files they point
# at, under the names the loader asks for), the loader, and a config that runs as a
# non-root user with every writable path under /tmp. SIGQUIT stops it, as in the official
# nginx image: a graceful stop (finish in-flight requests), not SIGTERM's fast one. The pod's spec supplies the real
# config (a ConfigMap) when it wants another one.
nginx() {
  local bin=/usr/sbin/nginx libs=() lib h conf=$tools/nginx.conf
  [[ -x $bin ]] || { say "nginx: $bin missing (apt-get install nginx)"; return 1; }
  cat >"$conf" <<'EOF'
# Front proxy for the e2e app: listens on 8000, forwards to the app on 127.0.0.1:8080.
daemon off;
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path /tmp/body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  server {
    listen 8000;
    location = /nginx-healthz { return 200 "ok\n"; }
    location / { proxy_pass http://127.0.0.1:8080; }
  }
}
EOF
  while read -r lib; do libs+=("$lib"); done < <(ldd "$bin" | grep -oE '/[^ ]+' | sort -u)
  h=$(hash_of "$bin" "$conf" "$mkimage" "${libs[@]}")
  if ! fresh nginx "$h"; then
    local adds=() l
    for l in "${libs[@]}"; do adds+=(-add "$l:$l"); done
    "$mkimage" -o "$out/nginx.tar" -t localhost/lameduck-nginx:e2e \
      -add "$bin:/usr/sbin/nginx" -add "$conf:/etc/nginx/nginx.conf" "${adds[@]}" \
      -dir /tmp:1777 -entrypoint '["/usr/sbin/nginx","-e","stderr","-c","/etc/nginx/nginx.conf"]' \
      -user 65532:65532 -stop-signal SIGQUIT
    stamp nginx "$h"
  fi
  echo "$out/nginx.tar"
}

queue() {
  gobuild "$here" ./queue "$tools/queue"
  static_image queue "$tools/queue" 65532:65532
}

noop_webhook() {
  gobuild "$here" ./noop-webhook "$tools/noop-webhook"
  static_image noop-webhook "$tools/noop-webhook" 65532:65532
}

traefik() {
  local bin=${E2E_BIN:-$E2E_CACHE/bin}/traefik
  [[ -x $bin ]] || { say "traefik: $bin missing (tests/e2e/build.sh traefik)"; return 1; }
  static_image traefik "$bin" 65532:65532 -dir /tmp:1777
}

lameduck() {
  local target=x86_64-unknown-linux-gnu binary=${LAMEDUCK_STATIC:-} h
  if [[ -z $binary ]]; then
    say "lameduck: cargo build --release --target $target (static; a no-op when up to date)"
    (cd "$repo" && RUSTFLAGS='-C target-feature=+crt-static' \
      cargo build --release --locked --quiet --target "$target")
    binary=$repo/target/$target/release/lameduck
  fi
  # scratch has no libc: a dynamic binary would not start.
  if ! ldd "$binary" 2>&1 | grep -qE 'statically linked|not a dynamic executable'; then
    say "lameduck: $binary is not static"
    return 1
  fi
  h=$(hash_of "$binary" "$repo/Dockerfile" "$mkimage")
  if ! fresh lameduck "$h"; then
    # The Dockerfile's COPY takes a path in the context: stage the binary there.
    local ctx=$tools/lameduck-context
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp "$binary" "$ctx/lameduck"
    "$mkimage" -o "$out/lameduck.tar" -t localhost/lameduck:e2e \
      -dockerfile "$repo/Dockerfile" -context "$ctx" -build-arg BINARY=lameduck
    stamp lameduck "$h"
  fi
  echo "$out/lameduck.tar"
}

images=("$@")
[[ ${#images[@]} -gt 0 ]] || images=(pause demo nginx queue noop-webhook traefik lameduck)
for i in "${images[@]}"; do
  case $i in
    pause | demo | nginx | queue | traefik | lameduck) "$i" ;;
    noop-webhook) noop_webhook ;;
    *) say "unknown image $i"; exit 2 ;;
  esac
done
