# Switchboard's container image: a static binary on Alpine, run as a user
# of its own.
#
#   docker build -t switchboard .
#   docker build --build-arg VERSION=$(git describe --always) -t switchboard .
#
# The build stage compiles without cgo (the SQLite driver is pure Go), so
# the binary needs no C library. The runtime stage is Alpine rather than
# distroless only for busybox's wget, which the HEALTHCHECK uses; the binary
# embeds the time zone database, and Alpine brings the CA certificates the
# Twilio and LLM APIs need.

FROM golang:1.26-alpine AS build
WORKDIR /src
# Dependencies first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/switchboard ./cmd/switchboard

FROM alpine:3.22
# A fixed numeric id, so that Kubernetes' runAsNonRoot can check it. The
# working directory is the user's: a single node on SQLite keeps
# ./data/switchboard.db there (mount a volume on /var/lib/switchboard).
RUN addgroup -S -g 10001 switchboard \
 && adduser -S -D -H -u 10001 -G switchboard -h /var/lib/switchboard switchboard \
 && install -d -o switchboard -g switchboard -m 0750 /var/lib/switchboard
COPY --from=build /out/switchboard /usr/local/bin/switchboard
WORKDIR /var/lib/switchboard
USER 10001:10001
# 3000: HTTP (webhook, API, /healthz, /readyz; SWITCHBOARD_ADDR).
# 6330: the actor remote between cluster nodes (CLUSTER_ADDR).
# 6331: the automanaged membership endpoint (CLUSTER_MEMBERSHIP_ADDR).
# 9464: /metrics, once METRICS_ADDR is set to 0.0.0.0:9464 (by default it
#       listens on the container's loopback only).
EXPOSE 3000 6330 6331 9464
# /healthz answers while the process is up: SWITCHBOARD_ADDR must keep
# port 3000 for this check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD wget -q -O /dev/null http://127.0.0.1:3000/healthz || exit 1
# SIGTERM drains (bounded by SHUTDOWN_TIMEOUT_MS, 25 s by default): give the
# container longer than that before it is killed (compose: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve"]
