# Build: the Swift toolchain image compiles a static-stdlib release binary.
FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev libssl-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY bench ./bench
COPY migrations ./migrations
RUN swift build -c release --product corsd --static-swift-stdlib \
 && install -D "$(swift build -c release --show-bin-path)/corsd" /out/corsd

# Run: slim Debian with SQLite, OpenSSL 3 (TLS) and the CA store (https upstreams), a non-root
# user and a volume for the database.
FROM debian:bookworm-slim
ARG VERSION=0.6.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="corsd" \
      org.opencontainers.image.description="Central CORS and open-file-limit policy store and CORS-enforcing tile proxy for OMERO.web hosts" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="README.md and docs/operations.md in the source tree"
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsqlite3-0 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/corsd --create-home corsd
COPY --from=build /out/corsd /usr/local/bin/corsd
USER corsd
WORKDIR /var/lib/corsd
VOLUME ["/var/lib/corsd"]
EXPOSE 8080
# Every serve option can be set as CORSD_<OPTION>; secrets from files (Docker secrets):
#   -e CORSD_ADMIN_TOKEN_FILE=/run/secrets/corsd_admin
ENV CORSD_LISTEN=0.0.0.0:8080 \
    CORSD_DB=/var/lib/corsd/corsd.sqlite \
    CORSD_LOG_FORMAT=json \
    CORSD_SHUTDOWN_GRACE=8
# `docker stop` sends SIGTERM and kills after 10 s: the 8 s grace drains in-flight requests first.
STOPSIGNAL SIGTERM
# corsd's own probe of /readyz (database answers, migrations current): no curl in the image.
# It follows the server's environment: CORSD_LISTEN (a wildcard probes loopback) and, with
# TLS (CORSD_TLS_CERT/CORSD_TLS_KEY), https with that very certificate pinned.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["/usr/local/bin/corsd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/corsd"]
CMD ["serve"]
