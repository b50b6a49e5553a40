# fleetgram as a container: `docker build -t fleetgram .`, then
#   docker run -d --name fleetgram -p 127.0.0.1:8080:8080 \
#     -v "$PWD/accounts.yaml:/config/accounts.yaml:ro" -v "$PWD/scripts:/config/scripts:ro" \
#     -v fleetgram-data:/data -e FLEETGRAM_HTTP_TOKEN=... fleetgram
# Without mounts it runs the example fleet on the embedded local DC. See docs/operations.md.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin fleetgram \
    && strip target/release/fleetgram

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin fleetgram \
    && mkdir -p /data /config \
    && chown fleetgram:fleetgram /data
COPY --from=build /src/target/release/fleetgram /usr/local/bin/fleetgram
COPY deploy/entrypoint.sh /usr/local/bin/fleetgram-entrypoint
COPY accounts.example.yaml /config/accounts.yaml
COPY scripts /config/scripts
USER fleetgram:fleetgram
WORKDIR /data
ENV FLEETGRAM_CONFIG=/config/accounts.yaml \
    FLEETGRAM_STORE=/data \
    FLEETGRAM_HTTP=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/fleetgram-entrypoint", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/fleetgram-entrypoint"]
CMD ["run"]
