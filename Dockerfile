# Multi-stage: compile the gateway into one binary, ship it on a distroless image.
#
#   docker build -t tastesync-gateway .
#   docker run --read-only -p 8080:8080 \
#     -e TASTESYNC_KAFKA_BROKERS=kafka:9092 \
#     -e TASTESYNC_AUTH_API_KEYS_FILE=/run/secrets/api_keys.yaml \
#     -v "$PWD/api_keys.yaml:/run/secrets/api_keys.yaml:ro" tastesync-gateway
#
# `deno compile` downloads Deno's runtime (denort) for its version: this build
# needs the internet. Offline, README "Single binary offline" gives the route.
FROM node:22-bookworm-slim AS build
WORKDIR /src
RUN npm install --global deno@2.9.6
COPY deno.json deno.lock ./
COPY main.ts ./
COPY src ./src
# The same flags as `deno task compile` (tests/deploy_test.ts compares them).
RUN deno install --frozen --entrypoint main.ts \
  && deno compile --frozen --allow-net --allow-env --allow-read --allow-write --allow-sys \
    --include src/log/embedded/writer_worker.ts -o /out/tastesync-gateway main.ts

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/tastesync-gateway /usr/local/bin/tastesync-gateway
# distroless's "nonroot" user. The root filesystem may be read-only: the binary
# writes only its code cache and Deno's caches under /tmp, and the embedded
# log (without Kafka) under /home/nonroot/data, both volumes.
USER 65532:65532
# DENO_USE_CGROUPS: V8's heap limit follows the container's memory limit (about
# half of it) instead of the host's memory, so the collector works harder as the
# limit nears instead of the kernel killing the process (README "The image").
ENV TASTESYNC_HTTP_HOST=0.0.0.0 \
    DENO_USE_CGROUPS=1 \
    TASTESYNC_AUTH_MODE=required \
    TASTESYNC_DATA_DIR=/home/nonroot/data \
    DENO_DIR=/tmp/deno \
    TMPDIR=/tmp
VOLUME ["/home/nonroot/data", "/tmp"]
# 8080: the API; 9464: /metrics without authentication when metrics.listen is set.
EXPOSE 8080 9464
# No shell in the image: the binary itself asks the gateway for /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/tastesync-gateway", "health"]
# SIGTERM drains within http.shutdown_timeout (10 s); give `docker stop -t 15`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tastesync-gateway"]
