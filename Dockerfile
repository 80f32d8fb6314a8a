# Build: the Swift toolchain image compiles a static-stdlib release binary.
FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY migrations ./migrations
RUN swift build -c release --product corsd --static-swift-stdlib \
 && install -D "$(swift build -c release --show-bin-path)/corsd" /out/corsd

# Run: slim Debian with SQLite, a non-root user and a volume for the database.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsqlite3-0 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/corsd --create-home corsd
COPY --from=build /out/corsd /usr/local/bin/corsd
USER corsd
WORKDIR /var/lib/corsd
VOLUME ["/var/lib/corsd"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/corsd"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--db", "/var/lib/corsd/corsd.sqlite"]
