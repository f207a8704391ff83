#!/usr/bin/env bash
# bare-machine-check.sh: gpu-check.sh's dry run on a bare Debian 12 or Ubuntu
# 24.04 without a network, the way a GPU machine without a package registry
# will meet it.
#
#   scripts/bare-machine-check.sh [--release R] [--root DIR] [--cmake DIR]
#                                 [GPU-CHECK ARGS...]
#
#   --release R  bookworm (Debian 12, the default) or noble (Ubuntu 24.04, a
#                newer system than the .debs', as GPU machines often run)
#   --root DIR   the bare system (default build-bare/RELEASE in the checkout);
#                made once with debootstrap (variant minbase) plus
#                build-essential, cmake, git and python3, nothing more
#   --cmake DIR  a CMake tree (with bin/cmake) to put first on PATH there, e.g.
#                a pip-installed CMake 4's cmake/data folder
#
# It binds /usr/local/cuda into the bare system when it exists here, clones
# this checkout's HEAD into it, downloads the .debs with fetch-debs.sh (here,
# with the network), and runs gpu-check.sh --device cpu there in a network
# namespace of its own (loopback only), so the build can use nothing but the
# .debs. Arguments after the options go to gpu-check.sh (--skip models, say).
# Exit status: gpu-check's (77 when every step passed: no GPU is checked), 2
# when the bare system cannot be made (run as root, with debootstrap).
# Found this way: three faults that would have failed the first GPU check at
# configure or build time (issue 10's closing notes).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
root=""
release=bookworm
cmake_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --release) [ $# -ge 2 ] || { echo "bare-machine-check: --release needs bookworm or noble" >&2; exit 2; }
      release=$2; shift 2 ;;
    --root) [ $# -ge 2 ] || { echo "bare-machine-check: --root needs a folder" >&2; exit 2; }
      root=$(realpath -m "$2"); shift 2 ;;
    --cmake) [ $# -ge 2 ] || { echo "bare-machine-check: --cmake needs a folder" >&2; exit 2; }
      cmake_dir=$(realpath -m "$2"); shift 2 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) break ;;
  esac
done
case "$release" in
  bookworm) mirror=http://deb.debian.org/debian components=main script=() ;;
  # debootstrap of Debian 12 has no script of its own for noble: gutsy's is
  # the one every later Ubuntu release links to.
  noble) mirror=http://archive.ubuntu.com/ubuntu components=main,universe
    script=(/usr/share/debootstrap/scripts/gutsy) ;;
  *) echo "bare-machine-check: --release: bookworm or noble, not '$release'" >&2; exit 2 ;;
esac
root=${root:-$here/build-bare/$release}
[ "$(id -u)" = 0 ] || { echo "bare-machine-check: run as root (chroot, mounts, namespaces)" >&2; exit 2; }
command -v debootstrap >/dev/null ||
  { echo "bare-machine-check: needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }
command -v ip >/dev/null || { echo "bare-machine-check: needs ip (apt-get install iproute2)" >&2; exit 2; }
[ -z "$cmake_dir" ] || [ -x "$cmake_dir/bin/cmake" ] ||
  { echo "bare-machine-check: --cmake: no $cmake_dir/bin/cmake" >&2; exit 2; }

if [ ! -x "$root/usr/bin/cmake" ]; then
  echo "bare-machine-check: making a bare $release in $root"
  rm -rf "$root"
  mkdir -p "$(dirname "$root")"
  keyring=()
  if [ "$release" = noble ]; then
    keyring=(--no-check-gpg)
    [ -f /usr/share/keyrings/ubuntu-archive-keyring.gpg ] &&
      keyring=(--keyring /usr/share/keyrings/ubuntu-archive-keyring.gpg)
  fi
  debootstrap --variant=minbase --components="$components" "${keyring[@]}" "$release" "$root" \
    "$mirror" "${script[@]}" >"$root.log" 2>&1 ||
    { echo "bare-machine-check: debootstrap failed (log: $root.log)" >&2; exit 2; }
  cp /etc/resolv.conf "$root/etc/"
  chroot "$root" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install \
    -y -qq --no-install-recommends build-essential cmake git python3 ca-certificates' >>"$root.log" 2>&1 ||
    { echo "bare-machine-check: installing the compiler failed (log: $root.log)" >&2; exit 2; }
fi

mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() { mkdir -p "$2" && mount --bind "$1" "$2" && mounts+=("$2"); }
bind /proc "$root/proc"
[ -d /usr/local/cuda ] && bind "$(realpath /usr/local/cuda)" "$root/usr/local/cuda"
[ -n "$cmake_dir" ] && bind "$cmake_dir" "$root/opt/cmake"

# The checkout as committed, with this checkout's .debs (fetched when absent).
rm -rf "$root/root/distro"
git clone -q "$here" "$root/root/distro"
[ -n "$(ls "$here"/.debs/*.deb 2>/dev/null)" ] || bash "$here/scripts/fetch-debs.sh"
cp -r "$here/.debs" "$root/root/distro/.debs"

echo "bare-machine-check: gpu-check.sh --device cpu $* in $root, without a network"
set +e
# A new network namespace has only loopback, and it starts down.
# shellcheck disable=SC2016
unshare --net /bin/sh -c 'ip link set lo up || exit 2; r=$0 c=$1; shift; exec chroot "$r" /bin/bash -c "$c" bash "$@"' \
  "$root" 'export PATH=/opt/cmake/bin:$PATH; cd /root/distro && bash scripts/gpu-check.sh --device cpu "$@"' "$@"
rc=$?
echo "bare-machine-check: gpu-check.sh exit $rc (77: every step passed, no GPU checked)"
exit $rc
