# glance-emu container image: a static-ish release build on Debian bookworm, copied into a
# distroless base (glibc only: no shell, no package manager), run as a non-root user.
#
#   docker build -t glance-emu .
#   docker run --rm -p 127.0.0.1:9292:9292 glance-emu
#
# Configure with the GLANCE_EMU_* environment variables (see README "Command line"), e.g.
#   -e GLANCE_EMU_CONTROL=1 -e GLANCE_EMU_CONTROL_LISTEN=0.0.0.0:9393 -e GLANCE_EMU_CONTROL_TOKEN=...
# The health check runs the binary itself (`glance-emu --probe`: GET /healthcheck), so the
# final image needs no curl. It follows the address the server actually bound, whatever
# flags or environment chose it: the server writes it to $GLANCE_EMU_ADDR_FILE and the probe
# reads it back (a HEALTHCHECK cannot see `docker run` arguments).
# Without a registry: tests/container/build.sh (FROM scratch, same layout).

ARG RUST_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# No debug info and a stripped binary in the image (Cargo.toml keeps debug=1 for profiling).
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=true \
    CARGO_TERM_COLOR=never
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY examples ./examples
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin glance-emu \
 && install -D -m 0755 target/release/glance-emu /out/glance-emu \
 && install -d -m 1777 /out/tmp

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/glance-emu /usr/local/bin/glance-emu
# Uploads are written below $TMPDIR (unless --persist): make sure it exists and is writable.
COPY --from=build /out/tmp /tmp
# The sample fixtures; mount your own over /srv/glance-emu/data (or set GLANCE_EMU_DATA).
COPY data /srv/glance-emu/data
WORKDIR /srv/glance-emu
ENV GLANCE_EMU_LISTEN=0.0.0.0:9292 \
    GLANCE_EMU_DATA=/srv/glance-emu/data \
    GLANCE_EMU_ADDR_FILE=/tmp/glance-emu.addr
USER 65532:65532
EXPOSE 9292 9393
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/glance-emu", "--probe"]
ENTRYPOINT ["/usr/local/bin/glance-emu"]
