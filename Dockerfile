# portico's container image: built on Debian bookworm with the project's own scripts, run from a
# filesystem that holds only the binary, its shared libraries and CA certificates
# (scripts/image-rootfs.sh; tests/image/image_test.sh checks it on the host).
#   docker build -t portico:0.1.0 .
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh image && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPORTICO_TESTS=OFF -DPORTICO_BENCH=OFF \
 && cmake --build /build --target portico \
 && scripts/image-rootfs.sh /build/src/portico /rootfs

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
EXPOSE 8080 8443 9090
ENTRYPOINT ["/portico"]
