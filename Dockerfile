# muster in a container: a static cgo build, then a small non-root image.
#
#   docker build -t muster .
#   docker run -v muster-data:/data -p 2022:2022 -p 8080:8080 muster
#
# Without a config it runs the built-in zero config in /data (README,
# "Running muster"), with SFTP and the admin HTTP server on every
# interface of the container. With a config, mount it and name it:
#
#   docker run -v muster-data:/data -v $PWD/muster.toml:/etc/muster/muster.toml:ro \
#     -e MUSTER_CONFIG=/etc/muster/muster.toml -p 2022:2022 -p 8080:8080 muster
#
# The flags in CMD still apply: data in /data, SFTP on :2022, HTTP on :8080.
#
# A release names its version, commit and build time (they show in
# `muster version`, the start log line, /healthz, muster_build_info and the
# image's OCI labels):
#
#   docker build --build-arg VERSION=1.4.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t muster:1.4.0 .

FROM golang:1.26-bookworm AS build
ARG VERSION=""
ARG COMMIT=""
ARG BUILD_TIME=""
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .ci/run runs this very line (it reads it from this file) and checks that
# the binary is static: go-sqlite3 needs cgo, and these tags keep glibc's
# NSS and dlopen out of a -static link. Without the build args (as in CI)
# the version comes from Go's build info.
RUN CGO_ENABLED=1 go build -trimpath -tags 'osusergo netgo sqlite_omit_load_extension' -ldflags "-s -w -extldflags=-static -X main.version=${VERSION:-} -X main.commit=${COMMIT:-} -X main.buildTime=${BUILD_TIME:-}" -o bin/muster ./cmd/muster
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=""
ARG COMMIT=""
ARG BUILD_TIME=""
LABEL org.opencontainers.image.title="muster" \
      org.opencontainers.image.description="Keeps an organisation's audience in step with its HR and directory systems" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_TIME}"
COPY --from=build /src/bin/muster /muster
# The data volume starts out owned by the image's user (nonroot, 65532).
COPY --from=build --chown=65532:65532 /out/data /data
ENV MUSTER_DATA=/data
VOLUME ["/data"]
# SFTP drop box, admin HTTP API (health, metrics, /v1).
EXPOSE 2022 8080
USER 65532:65532
# Ready when /readyz says so (the image has no shell and no curl: muster
# asks itself, finding its address in /data/serve.json). Unhealthy means
# muster needs attention (a removed folder, a failing directory), not
# necessarily a restart. A config without [http] has no /readyz: give
# the container -http, as the default command does.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["/muster", "health"]
ENTRYPOINT ["/muster"]
CMD ["serve", "-data", "/data", "-sftp", "0.0.0.0:2022", "-http", "0.0.0.0:8080"]
