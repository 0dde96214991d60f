# syntax=docker/dockerfile:1
# The ipamguard-webhook image: a static binary on distroless, running as the
# nonroot user. Build: make docker-build IMG=<registry>/ipamguard-webhook:<tag>
# (passes VERSION and COMMIT), or
#   docker build --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) -t ... .
#
# This file is the source of truth for how the released binary is built.
# The Makefile repeats its build flags (IMAGE_CGO_ENABLED, IMAGE_GOFLAGS,
# IMAGE_LDFLAGS, IMAGE_PKG) for `make image-check`, which builds the binary
# the same way without a container engine and checks it is static and
# reports its version; test/image fails when the two disagree, and when the
# builder's Go is not the go line of go.mod.

# Build on the builder's own platform and cross-compile (no emulation for
# multi-arch images: docker buildx build --platform linux/amd64,linux/arm64).
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS builder
ARG TARGETOS
ARG TARGETARCH
# Stamped into internal/version: --version and ipamguard_build_info report them.
ARG VERSION=unknown
ARG COMMIT=unknown
WORKDIR /src

# Dependencies first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

# Only the packages the binary is built from (cmd, pkg, internal), so that
# docs, tests data and config/ edits do not invalidate the build layer.
COPY cmd/ cmd/
COPY pkg/ pkg/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
      -ldflags="-s -w -X github.com/ipamguard/ipamguard/internal/version.Version=${VERSION} -X github.com/ipamguard/ipamguard/internal/version.Commit=${COMMIT}" \
      -o /out/ipamguard-webhook ./cmd/webhook

# distroless/static: no shell, no package manager, CA certificates and
# /etc/passwd with the nonroot user (65532) only.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=unknown
LABEL org.opencontainers.image.source="https://github.com/ipamguard/ipamguard" \
      org.opencontainers.image.title="ipamguard-webhook" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.description="Validating admission webhook for Kube-OVN IP management"
COPY --from=builder /out/ipamguard-webhook /ipamguard-webhook
USER 65532:65532
EXPOSE 9443 8080 8081
ENTRYPOINT ["/ipamguard-webhook"]
