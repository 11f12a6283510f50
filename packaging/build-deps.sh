# shellcheck shell=bash disable=SC2034
# Debian packages needed to build weft's three binaries (weft-plugin,
# weft-gossip, weftctl) -- without tests -- in the managed plugin's build
# stage. One list, read by packaging/base-images.sh (debootstrap --include)
# and kept in step with the Dockerfile's BUILD_DEPS argument.
WEFT_BUILD_DEPS=(
  g++ make cmake ninja-build pkg-config
  libcpp-httplib-dev nlohmann-json3-dev libnl-3-dev libnl-route-3-dev libmnl-dev libssl-dev
)
