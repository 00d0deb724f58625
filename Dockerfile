# syntax=docker/dockerfile:1
#
# roomcast container image.
#
# NOT BUILT IN THIS REPOSITORY: the development and CI machines have a docker
# CLI but no Docker engine, so this file has never been built here. It was
# checked by reading only; build it where a daemon exists:
#
#   docker build -t roomcast:dev .
#   docker run --rm -p 8080:8080 -e ROOMCAST__AUTH__JWT_SECRET=change-me roomcast:dev
#
# Stage 1 compiles the dependencies against stub sources (a layer that only
# changes with Cargo.toml / Cargo.lock), then the real sources. Stage 2 is
# debian:bookworm-slim with ca-certificates, running as uid 10001. The glibc of
# both stages is bookworm's, so the dynamically linked binary runs as is.

ARG RUST_VERSION=1.95

############################################################ builder
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src

# --- 1. dependencies only ---------------------------------------------------
# Every workspace member's manifest is needed to resolve the workspace with
# --locked: add a COPY line here when a member is added. The targets the
# manifests name get empty stubs (cargo only needs the ones it builds, the
# others keep the tree complete). Stage 2 replaces the stubs of roomcast,
# entity and migration; loadtest and the tests are never built here.
COPY Cargo.toml Cargo.lock ./
COPY entity/Cargo.toml entity/Cargo.toml
COPY migration/Cargo.toml migration/Cargo.toml
COPY loadtest/Cargo.toml loadtest/Cargo.toml
RUN set -eux; \
    mkdir -p src entity/src migration/src loadtest/src tests/api tests/cluster; \
    for f in src/lib.rs entity/src/lib.rs migration/src/lib.rs; do : > "$f"; done; \
    for f in src/main.rs migration/src/main.rs loadtest/src/main.rs \
             tests/api/main.rs tests/cluster/main.rs; do echo 'fn main() {}' > "$f"; done; \
    cargo build --release --locked --bin roomcast; \
    rm -rf src entity/src migration/src

# --- 2. the server ----------------------------------------------------------
# config/default.toml is compiled in (include_str!), so config/ comes first.
COPY config config
COPY entity/src entity/src
COPY migration/src migration/src
COPY src src
# COPY keeps the files' own modification times, which can be older than the
# stub build above; cargo would then keep the stub crates. Touch them so the
# workspace crates (and only they) are rebuilt.
RUN set -eux; \
    find src entity/src migration/src -name '*.rs' -exec touch {} +; \
    cargo build --release --locked --bin roomcast; \
    ./target/release/roomcast --version

############################################################ runtime
FROM debian:bookworm-slim AS runtime

# /app/data is only used if someone runs the image with the default SQLite URL.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 roomcast; \
    useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent \
            --no-create-home --shell /usr/sbin/nologin roomcast; \
    mkdir -p /app/data; \
    chown 10001:10001 /app/data

COPY --from=builder /src/target/release/roomcast /usr/local/bin/roomcast
# default.toml and production.toml; in Kubernetes production.toml is replaced
# by the one from the roomcast-config ConfigMap (k8s/base).
COPY --from=builder /src/config /app/config

WORKDIR /app
ENV ROOMCAST_ENV=production \
    ROOMCAST_CONFIG_DIR=/app/config
EXPOSE 8080
USER 10001
ENTRYPOINT ["/usr/local/bin/roomcast"]
