# syntax=docker/dockerfile:1
# The ipamguard-webhook image: a static binary on distroless, running as the
# nonroot user. Build: docker build -t <registry>/ipamguard-webhook:<tag> .

# Build on the builder's own platform and cross-compile (no emulation for
# multi-arch images: docker buildx build --platform linux/amd64,linux/arm64).
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
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
    go build -trimpath -buildvcs=false -ldflags="-s -w" \
      -o /out/ipamguard-webhook ./cmd/webhook

# distroless/static: no shell, no package manager, CA certificates and
# /etc/passwd with the nonroot user (65532) only.
FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.source="https://github.com/ipamguard/ipamguard" \
      org.opencontainers.image.title="ipamguard-webhook" \
      org.opencontainers.image.description="Validating admission webhook for Kube-OVN IP management"
COPY --from=builder /out/ipamguard-webhook /ipamguard-webhook
USER 65532:65532
EXPOSE 9443 8080 8081
ENTRYPOINT ["/ipamguard-webhook"]
