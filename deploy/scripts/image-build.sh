#!/usr/bin/env bash
# Builds the FREEDUMB image (deploy/docker/Dockerfile) without a daemon and
# without pulling from a registry, with Podman, then checks it.
#
#   deploy/scripts/image-build.sh [bases|image|smoke|all]      (default: all)
#
#   bases  make the two base images the Dockerfile names, when they are not
#          in local storage: the runtime (debian:bookworm-slim) and the
#          builder (rust:<version>-slim-bookworm). Each is a Debian bookworm
#          root filesystem made by mmdebstrap from the Debian mirror, with
#          the security updates, imported with `podman import` under the
#          very name the Dockerfile's FROM uses, so that the same Dockerfile
#          builds here and wherever the real images can be pulled. The
#          builder gets the host's Rust toolchain (rustup's, the version the
#          Dockerfile names) laid out as in the official image
#          (RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo).
#          Where pulls work, BASES=pull pulls the real images instead.
#   image  podman build, with host networking (never podman's bridge), the
#          host's CA bundle as a build secret (for crates.io; never in a
#          layer), OCI labels from git, Docker format (keeps HEALTHCHECK).
#          Compiles the workspace in release: about 20 minutes on 2 cores.
#   smoke  runs the image as uid 10001 with a read-only root filesystem on
#          127.0.0.1 (host network), waits for `freedumb healthcheck`, runs
#          `podman healthcheck run`, and prints the image's size.
#
# Environment: IMAGE (default ghcr.io/freedumb/freedumb:dev), BASES
# (local|pull, default local), CA_BUNDLE (default the system bundle),
# DEBIAN_MIRROR, CONTAINERS_CONF (default deploy/podman/containers.conf),
# SMOKE_GRPC_PORT / SMOKE_ADMIN_PORT / SMOKE_GATEWAY_PORT.
# Needs podman, and for BASES=local mmdebstrap, tar and rustup.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

dockerfile=deploy/docker/Dockerfile
image="${IMAGE:-ghcr.io/freedumb/freedumb:dev}"
bases="${BASES:-local}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/deploy/podman/containers.conf}"

say() { printf '== %s\n' "$*"; }
die() { printf 'image-build: %s\n' "$*" >&2; exit 1; }
need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed (${2:-apt-get install $1})"
}

# The default of a build argument declared before the first FROM.
dockerfile_arg() {
  local value
  value="$(sed -n "s/^ARG $1=\(.*\)$/\1/p" "$dockerfile" | sed -n 1p)"
  [[ -n "$value" ]] || die "no default for ARG $1 in $dockerfile"
  printf '%s' "$value"
}

rust_image="$(dockerfile_arg RUST_IMAGE)"
runtime_image="$(dockerfile_arg RUNTIME_IMAGE)"

# mmdebstrap into a tarball: Debian bookworm, minbase, merged /usr without
# the usrmerge package (and so without perl), no recommends, no
# documentation, manual pages or translations (the files debian:*-slim
# leaves out too), security updates included. Extra packages in $2.
debootstrap_tar() {
  local out=$1 include=${2:-}
  local args=(
    --variant=minbase --format=tar
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
    --aptopt='APT::Install-Recommends "false"'
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright'
  )
  if [[ -n "$include" ]]; then args+=("--include=$include"); fi
  mmdebstrap "${args[@]}" bookworm "$out" \
    "deb $mirror bookworm main" \
    "deb $mirror bookworm-updates main" \
    "deb $security_mirror bookworm-security main"
}

make_runtime_base() {
  local work=$1
  say "runtime base $runtime_image (mmdebstrap, about 2 minutes)"
  debootstrap_tar "$work/runtime.tar"
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --change 'LABEL org.opencontainers.image.description="Debian bookworm minbase made by deploy/scripts/image-build.sh"' \
    --message "mmdebstrap --variant=minbase bookworm" \
    "$work/runtime.tar" "$runtime_image" >/dev/null
}

make_builder_base() {
  local work=$1
  # rust:1.95-slim-bookworm -> 1.95; the host toolchain must be that release.
  local want sysroot have toolchain overlay
  want="$(printf '%s' "$rust_image" | sed -n 's/.*:\([0-9][0-9]*\.[0-9][0-9]*\)\(\.[0-9][0-9]*\)*-slim-bookworm$/\1/p')"
  [[ -n "$want" ]] || die "cannot read the Rust version from $rust_image"
  need rustup "https://rustup.rs"
  sysroot="$(rustc --print sysroot)"
  have="$("$sysroot/bin/rustc" --version | sed -n 's/^rustc \([0-9.]*\).*/\1/p')"
  case "$have" in
    "$want" | "$want".*) ;;
    *) die "the Dockerfile builds with Rust $want, the host's toolchain is $have (rustup toolchain install $want)" ;;
  esac
  toolchain="$have-x86_64-unknown-linux-gnu"
  say "builder base $rust_image (mmdebstrap and the host's Rust $have)"
  # What the official slim image installs next to the toolchain.
  debootstrap_tar "$work/builder.tar" ca-certificates,gcc,libc6-dev
  # rustup's proxies (cargo, rustc, ...) as in the official image, set to
  # the one toolchain it has.
  overlay="$work/overlay"
  mkdir -p "$overlay/usr/local/cargo/bin" "$overlay/usr/local/rustup/toolchains"
  install -m 0755 "$(command -v rustup)" "$overlay/usr/local/cargo/bin/rustup"
  local proxy
  for proxy in cargo cargo-clippy cargo-fmt clippy-driver rustc rustdoc rustfmt; do
    ln "$overlay/usr/local/cargo/bin/rustup" "$overlay/usr/local/cargo/bin/$proxy"
  done
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n' \
    "$toolchain" > "$overlay/usr/local/rustup/settings.toml"
  tar --append -f "$work/builder.tar" --owner=0 --group=0 --numeric-owner \
    -C "$overlay" ./usr/local/cargo ./usr/local/rustup
  # The toolchain without its documentation (800 MB of HTML).
  tar --append -f "$work/builder.tar" --owner=0 --group=0 --numeric-owner \
    --exclude=./share/doc \
    --transform="s|^\\./|./usr/local/rustup/toolchains/$toolchain/|" \
    -C "$sysroot" ./bin ./lib ./libexec ./etc ./share
  podman import \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV RUST_VERSION=$have" \
    --change 'CMD ["bash"]' \
    --change 'LABEL org.opencontainers.image.description="Debian bookworm with the host Rust toolchain, made by deploy/scripts/image-build.sh"' \
    --message "mmdebstrap bookworm + Rust $have" \
    "$work/builder.tar" "$rust_image" >/dev/null
  podman run --rm --network=none "$rust_image" cargo --version
}

cmd_bases() {
  need podman
  need runc "apt-get install runc: the runtime deploy/podman/containers.conf names"
  local missing=()
  local name
  for name in "$runtime_image" "$rust_image"; do
    if podman image exists "$name"; then
      say "base $name: in local storage"
    else
      missing+=("$name")
    fi
  done
  [[ ${#missing[@]} -gt 0 ]] || return 0
  if [[ "$bases" == pull ]]; then
    for name in "${missing[@]}"; do podman pull "$name"; done
    return 0
  fi
  [[ "$bases" == local ]] || die "BASES is local or pull, not $bases"
  need mmdebstrap
  need tar
  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/freedumb-bases.XXXXXX")"
  # shellcheck disable=SC2064 # expand $work now
  trap "rm -rf '$work'" EXIT
  for name in "${missing[@]}"; do
    case "$name" in
      "$runtime_image") make_runtime_base "$work" ;;
      "$rust_image") make_builder_base "$work" ;;
    esac
  done
  rm -rf "$work"
  trap - EXIT
}

cmd_image() {
  need podman
  need runc "apt-get install runc: the runtime deploy/podman/containers.conf names"
  need git
  local version revision created
  version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | sed -n 1p)"
  revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then revision="$revision-dirty"; fi
  # The commit's time, not the clock's, so that labels are reproducible.
  created="$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null \
    || date -u +%Y-%m-%dT%H:%M:%SZ)"
  local secret=()
  local ca="${CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
  if [[ -s "$ca" ]]; then
    secret=(--secret "id=cacert,src=$ca")
  else
    say "no CA bundle at $ca: cargo inside the build uses the builder's own"
  fi
  say "building $image ($version, $revision): the release build takes about 20 minutes on 2 cores"
  local start=$SECONDS
  TZ=UTC podman build \
    --file "$dockerfile" \
    --format docker \
    --network host \
    --pull=never \
    --layers \
    "${secret[@]}" \
    --build-arg "VERSION=$version" \
    --build-arg "REVISION=$revision" \
    --build-arg "CREATED=$created" \
    --tag "$image" \
    .
  say "built $image in $((SECONDS - start)) s"
}

# A port on 127.0.0.1 nobody listens on, or die.
free_port() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    die "port $1 on 127.0.0.1 is in use (set SMOKE_${2}_PORT)"
  fi
  printf '%s' "$1"
}

cmd_smoke() {
  need podman
  need runc "apt-get install runc: the runtime deploy/podman/containers.conf names"
  podman image exists "$image" || die "$image is not built (deploy/scripts/image-build.sh image)"
  local grpc admin gateway name
  grpc="$(free_port "${SMOKE_GRPC_PORT:-55051}" GRPC)"
  admin="$(free_port "${SMOKE_ADMIN_PORT:-59090}" ADMIN)"
  gateway="$(free_port "${SMOKE_GATEWAY_PORT:-58080}" GATEWAY)"
  name="freedumb-smoke-$$"
  say "image $image"
  podman image inspect "$image" --format \
    'user={{.Config.User}} entrypoint={{.Config.Entrypoint}} cmd={{.Config.Cmd}} healthcheck={{.Config.Healthcheck.Test}}'
  podman image inspect "$image" --format '{{range $k, $v := .Labels}}{{$k}}={{$v}}{{"\n"}}{{end}}' \
    | grep '^org.opencontainers.image.'
  podman run --rm --network=none --read-only --read-only-tmpfs=false "$image" version
  # The whole mesh in one process on embedded SQLite: the data directory
  # (an anonymous volume, from the image's VOLUME) is the only writable path.
  say "running the mesh as uid 10001, read-only root filesystem, host network on 127.0.0.1"
  podman run -d --name "$name" \
    --network=host \
    --read-only --read-only-tmpfs=false \
    --cap-drop=ALL --security-opt=no-new-privileges \
    --health-interval=disable \
    -e FREEDUMB_GRPC_ADDR="127.0.0.1:$grpc" \
    -e FREEDUMB_ADMIN_ADDR="127.0.0.1:$admin" \
    -e FREEDUMB_GATEWAY_ADDR="127.0.0.1:$gateway" \
    "$image" >/dev/null
  # shellcheck disable=SC2064 # expand $name now
  trap "podman rm -f -v '$name' >/dev/null 2>&1 || true" EXIT
  local uid ok=0 i
  uid="$(podman exec "$name" id -u)"
  [[ "$uid" == 10001 ]] || die "the process runs as uid $uid, not 10001"
  for i in $(seq 1 60); do
    if podman exec "$name" freedumb healthcheck; then ok=1; break; fi
    sleep 1
  done
  if [[ "$ok" != 1 ]]; then
    podman logs "$name" >&2 || true
    die "freedumb healthcheck did not pass within 60 s"
  fi
  say "freedumb healthcheck: ready after ${i} s (uid $uid)"
  podman healthcheck run "$name"
  say "podman healthcheck run (the image's HEALTHCHECK): healthy"
  if podman exec "$name" touch /usr/local/bin/probe 2>/dev/null; then
    die "the root filesystem is writable"
  fi
  say "root filesystem: read-only"
  podman image inspect "$image" --format '{{.Size}}' \
    | awk '{ printf "== image size: %.1f MB (uncompressed)\n", $1 / 1000000 }'
  podman rm -f -v "$name" >/dev/null
  trap - EXIT
}

case "${1:-all}" in
  bases) cmd_bases ;;
  image) cmd_image ;;
  smoke) cmd_smoke ;;
  all) cmd_bases; cmd_image; cmd_smoke ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command $1 (bases, image, smoke or all)" ;;
esac
