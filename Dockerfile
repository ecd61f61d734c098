# Multi-stage: compile the gateway into one binary, ship it on a small image.
# Build: docker build -t tastesync-gateway .
# Run:   docker run -p 8080:8080 -e TASTESYNC_KAFKA_BROKERS=kafka:9092 tastesync-gateway
FROM node:22-bookworm-slim AS build
WORKDIR /src
RUN npm install --global deno@2.9.6
COPY deno.json deno.lock ./
COPY main.ts ./
COPY src ./src
RUN deno install --frozen --entrypoint main.ts \
  && deno compile --frozen --allow-net --allow-env --allow-read --allow-write --allow-sys \
    -o /out/tastesync-gateway main.ts

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/tastesync-gateway /usr/local/bin/tastesync-gateway
ENV TASTESYNC_DATA_DIR=/home/nonroot/data
VOLUME /home/nonroot/data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tastesync-gateway"]
