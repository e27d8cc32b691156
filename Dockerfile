# lameduck: a static binary in an empty image. No shell, no package manager, no libc.
#
# The binary is built on the host (there is no Rust builder image offline):
#   RUSTFLAGS='-C target-feature=+crt-static' \
#     cargo build --release --locked --target x86_64-unknown-linux-gnu
#   docker build -t lameduck .
# scripts/docker-smoke.sh does both and checks that the image answers.
FROM scratch

ARG BINARY=target/x86_64-unknown-linux-gnu/release/lameduck
COPY ${BINARY} /lameduck

LABEL org.opencontainers.image.title="lameduck" \
      org.opencontainers.image.description="Kubernetes mutating admission webhook: pods that stop without dropping requests" \
      org.opencontainers.image.licenses="Apache-2.0"

# Any non-root UID works; 65532 is the "nonroot" user of distroless images and the
# chart's runAsUser.
USER 65532:65532
# 8443: HTTPS admission reviews; 9090: plain-HTTP /metrics, /healthz, /readyz.
EXPOSE 8443 9090
ENTRYPOINT ["/lameduck"]
CMD ["serve"]
