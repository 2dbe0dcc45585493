# Parley server image: one binary with the web app built in.
#   docker build -t parley .
#   docker run -p 8080:8080 -p 7882:7882/udp -e PARLEY_PUBLIC_IP=<host IP> \
#     -e PARLEY_JWT_SECRET=<secret> -v parley-data:/data parley
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p parley-signaling --bin parley \
 && strip target/release/parley

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /data parley \
 && mkdir -p /data && chown parley /data
COPY --from=build /src/target/release/parley /usr/local/bin/parley
USER parley
ENV PARLEY_HTTP_ADDR=0.0.0.0:8080 \
    PARLEY_UDP_PORT=7882 \
    PARLEY_DATA_DIR=/data \
    PARLEY_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080/tcp 7882/udp
# SIGTERM drains: participants get a goodbye, connections close cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/parley"]
