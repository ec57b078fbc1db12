# syntax=docker/dockerfile:1
# Costline server image. Build: docker build -t costline .   Run with an external PostgreSQL:
#   docker run -e DATABASE_URL=postgres://... -p 8080:8080 costline
# (see docker-compose.yml). The image holds no PostgreSQL server, so DATABASE_URL is required:
# the embedded-cluster mode of `costline serve` is for development machines.

########## build ##########
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Cache the registry and target dir across builds (BuildKit); copy the binary out of the cache.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p costline \
 && install -D -m 0755 target/release/costline /out/costline
# Git keeps no empty folders: make sure every folder the runtime stage copies exists.
RUN mkdir -p templates migrations cloudformation terraform

########## runtime ##########
FROM debian:bookworm-slim
# sqlx speaks the PostgreSQL protocol itself and TLS is rustls: no libpq, no OpenSSL needed.
# curl is only for health checks (docker-compose.yml probes GET /readyz with it). The image has
# no HEALTHCHECK of its own: `costline worker` serves no HTTP unless COSTLINE_WORKER_LISTEN is set.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 costline \
 && useradd --system --uid 10001 --gid costline --home-dir /var/lib/costline --create-home \
            --shell /usr/sbin/nologin costline

COPY --from=builder /out/costline /usr/local/bin/costline
WORKDIR /app
# The binary may embed these; having them beside it as well is harmless.
COPY --from=builder /src/templates      ./templates
COPY --from=builder /src/migrations     ./migrations
COPY --from=builder /src/cloudformation ./cloudformation
COPY --from=builder /src/terraform      ./terraform

ENV COSTLINE_LISTEN=0.0.0.0:8080 \
    COSTLINE_DATA_DIR=/var/lib/costline \
    RUST_LOG=info
USER costline:costline
EXPOSE 8080
ENTRYPOINT ["costline"]
CMD ["serve"]
