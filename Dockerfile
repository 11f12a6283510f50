# weft's managed plugin rootfs. packaging/build-plugin.sh turns it into a
# plugin (`docker plugin create`); see packaging/README.md.
#
#   docker build -t weft-rootfs .                     # ordinary path: debian:bookworm + apt-get
#   docker build --build-arg BUILD_BASE=<image> .     # offline: an image that already holds
#                                                     # the build deps (packaging/base-images.sh)
#
# Written for the classic builder as well as BuildKit (Debian's docker.io
# 20.10 has no buildx).

ARG BUILD_BASE=debian:bookworm

FROM ${BUILD_BASE} AS deps
# The packages marked "build" in weft's one list of Debian packages; apt-get
# only for what the base lacks: nothing, on the offline base.
COPY packaging/debian-deps.txt /tmp/debian-deps.txt
RUN missing=""; \
    for p in $(awk '!/^#/ && $2 == "build" {print $1}' /tmp/debian-deps.txt); do \
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"; \
    done; \
    if [ -n "$missing" ]; then \
      echo "installing:$missing"; \
      apt-get update && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing && \
      rm -rf /var/lib/apt/lists/*; \
    else \
      echo "build dependencies already present"; \
    fi

# The plugin's entrypoint (process 1 of the plugin; maps settings).
FROM deps AS entry
COPY packaging/weft-managed-entry.cc /src/
RUN g++ -O2 -Wall -Wextra -o /weft-managed-entry /src/weft-managed-entry.cc

FROM deps AS build
WORKDIR /src
# The sources (what .dockerignore lets in, less the entrypoint's).
COPY CMakeLists.txt ./
COPY cluster cluster
COPY common common
COPY datapath datapath
COPY kernel kernel
COPY driver driver
COPY metrics metrics
COPY engine engine
COPY services services
COPY gossip gossip
COPY plugin plugin
COPY weftctl weftctl
COPY bench bench
ARG WEFT_BUILD_TYPE=RelWithDebInfo
RUN cmake -G Ninja -S . -B /build -DCMAKE_BUILD_TYPE=${WEFT_BUILD_TYPE} -DWEFT_TESTS=OFF >/dev/null && \
    ninja -C /build weft-plugin weft-gossip weftctl
COPY --from=entry /weft-managed-entry /build/bin/weft-managed-entry
# The runtime tree: the binaries (debug info stripped; symbols kept for
# backtraces), exactly the shared libraries ldd lists for them, and the
# few files the plugin expects.
RUN set -e; \
    mkdir -p /out/usr/bin /out/var/lib/weft /out/run/docker/plugins /out/tmp /out/etc; \
    chmod 1777 /out/tmp; \
    for b in weft-plugin weft-gossip weftctl weft-managed-entry; do \
      strip --strip-debug -o /out/usr/bin/$b /build/bin/$b; chmod 0755 /out/usr/bin/$b; \
    done; \
    for lib in $(for b in /out/usr/bin/*; do ldd "$b"; done | \
                 awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do \
      mkdir -p "/out$(dirname "$lib")"; cp -L "$lib" "/out$lib"; \
    done; \
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >/out/etc/passwd; \
    printf 'root:x:0:\nnogroup:x:65534:\n' >/out/etc/group; \
    /out/usr/bin/weft-plugin --version; \
    chroot /out /usr/bin/weft-plugin --version

FROM scratch
COPY --from=build /out/ /
ENTRYPOINT ["/usr/bin/weft-managed-entry", "/usr/bin/weft-plugin"]
