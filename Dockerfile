# The worker's container image (azd service "worker", see azure.yaml).
#
# azd builds it in Azure Container Registry (docker.remoteBuild), so no local
# Docker is needed; `docker build .` from the repository root works too.
#
# Build stage: a static Linux binary. CGO_ENABLED=0 keeps it free of libc,
# so it runs on an image with no C library at all. GO_IMAGE must carry at
# least the Go version go.mod names: the official images set
# GOTOOLCHAIN=local and will not download a newer toolchain.
ARG GO_IMAGE=golang:1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, so this layer is reused while only code changes.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
    go build -trimpath -ldflags="-s -w" -o /out/worker ./cmd/worker

# Runtime stage: distroless "static" has CA certificates (for TLS to the
# scheduler and to Microsoft Entra ID) and time zone data, no shell, no
# package manager, and runs as the unprivileged user "nonroot" (uid 65532).
FROM ${RUNTIME_IMAGE}
COPY --from=build /out/worker /worker
USER nonroot:nonroot
# Container Apps stops a replica with SIGTERM, then waits
# terminationGracePeriodSeconds (infra/modules/worker-app.bicep) before
# SIGKILL; the worker stops taking work items and exits on SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/worker"]
