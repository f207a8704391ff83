#!/usr/bin/env bash
# fetch-debs.sh: download, on a machine with a package registry, the Debian
# packages that building distro needs and a bare GPU machine may lack, so that
# scripts/gpu-check.sh can build there without network access.
#
#   scripts/fetch-debs.sh [--dir DIR] [--no-gpu-apis] [--list]
#
# The packages (and every dependency that a stock system does not already
# have: priority required/important/standard packages are left out) land as
# .deb files in DIR (default .debs/ in the checkout, ignored by git), with a
# MANIFEST of name, version and file. Nothing is installed: gpu-check.sh
# unpacks them with dpkg -x into an ignored folder of the checkout.
#
# The .debs match this machine's release and architecture (dpkg
# --print-architecture); the GPU machine should run the same release, or at
# least one whose glibc is as new.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/.debs"
gpu_apis=1
list_only=0
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || { echo "fetch-debs: --dir needs a folder" >&2; exit 2; }; dir=$2; shift 2 ;;
    --no-gpu-apis) gpu_apis=0; shift ;;
    --list) list_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fetch-debs: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

command -v apt-get >/dev/null && command -v apt-cache >/dev/null ||
  { echo "fetch-debs: needs apt-get and apt-cache (a Debian or Ubuntu machine)" >&2; exit 1; }

# What the build needs beyond a compiler, CMake and the CUDA toolkit: the
# required libraries (ZeroMQ, libsodium, cJSON, libmicrohttpd), the dashboard's
# Chart.js and pkg-config. (OpenBLAS is left out: it is optional, and its
# Debian packages install through alternatives that dpkg -x does not set up.)
want=(libzmq3-dev libzmq5 libsodium-dev libsodium23 libcjson-dev libcjson1
      libmicrohttpd-dev libmicrohttpd12 libjs-chart.js pkgconf)
# For the OpenCL and Vulkan backends against NVIDIA's ICDs: headers, the ICD
# loaders, CLBlast and the GLSL compiler (the driver itself brings the ICDs).
if [ $gpu_apis = 1 ]; then
  want+=(ocl-icd-opencl-dev ocl-icd-libopencl1 opencl-headers libclblast-dev libvulkan-dev
         libvulkan1 glslc)
fi

# A stock machine: one that can build C and C++ at all (nvcc needs the host
# compiler). What it is sure to have, in a form every later release of any
# glibc distribution keeps compatible, is glibc, the compiler's own runtime
# libraries and the tools themselves: those are left out, with the Essential
# packages (programs, never libraries we load). Every other library comes
# along, even one this release's build-essential happens to pull in: Ubuntu
# 24.04 has libunistring.so.5 where Debian 12's libidn2 needs .so.2, and it
# was missing there. Python and Perl are pulled in only by helper scripts of
# some -dev packages, never by the build, and are left out too.
deps_of() {
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "$@" 2>/dev/null | grep -v '^ ' | grep -v '^<' | sed 's/:any$//' |
    sort -u
}
toolchain='^(libc6|libc6-dev|libc-dev-bin|linux-libc-dev|libcrypt1|libcrypt-dev|libnsl2|libnsl-dev|'
toolchain+='libtirpc[0-9]*|libtirpc-common|libtirpc-dev|rpcsvc-proto|libgcc-s1|libgcc-[0-9]+-dev|'
toolchain+='gcc-[0-9]+-base|libstdc\+\+6|libstdc\+\+-[0-9]+-dev|libgomp1|libatomic1|libquadmath0|'
toolchain+='libitm1|libasan[0-9]+|liblsan0|libtsan[0-9]+|libubsan1|libhwasan0|libcc1-0|'
toolchain+='gcc(-[0-9]+)?|g\+\+(-[0-9]+)?|cpp(-[0-9]+)?|binutils.*|libbinutils|libctf.*|libgprofng0|'
toolchain+='libsframe1|build-essential|make|dpkg|dpkg-dev|libdpkg-perl|patch|tar|xz-utils|bzip2)$'
stock=$( { deps_of build-essential | grep -E "$toolchain"; dpkg-query -W -f='${Essential} ${Package}\n' \
           2>/dev/null | awk '$1 == "yes" { print $2 }'; } | sort -u)

# The dependency closure (Depends and Pre-Depends) of what we want, real
# packages only (apt-cache prints virtual ones in <angle brackets>).
closure=$(deps_of "${want[@]}")
arch=$(dpkg --print-architecture)
pkgs=()
for p in $closure; do
  case "$p" in *:*) [ "${p#*:}" = "$arch" ] || continue; p=${p%%:*} ;; esac
  case "$p" in python3* | libpython3* | perl* | libperl*) continue ;; esac
  printf '%s\n' "$stock" | grep -qx "$p" && continue
  pkgs+=("$p")
done
if [ $list_only = 1 ]; then printf '%s\n' "${pkgs[@]}"; exit 0; fi

mkdir -p "$dir"
cd "$dir"
echo "fetch-debs: ${#pkgs[@]} packages into $dir"
failed=()
for p in "${pkgs[@]}"; do
  if ! apt-get download -q "$p" >/dev/null 2>"$dir/.err"; then
    echo "fetch-debs: cannot download $p: $(tail -1 "$dir/.err")" >&2
    failed+=("$p")
  fi
done
rm -f "$dir/.err"
: > MANIFEST
for f in *.deb; do
  printf '%s %s %s\n' "$(dpkg-deb -f "$f" Package)" "$(dpkg-deb -f "$f" Version)" "$f" >> MANIFEST
done
echo "fetch-debs: $(wc -l < MANIFEST) .deb files, $(du -sh . | cut -f1); list in $dir/MANIFEST"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fetch-debs: not downloaded: ${failed[*]}" >&2
  # The required libraries must all be there; the GPU API packages are optional.
  required=" libzmq3-dev libzmq5 libsodium-dev libsodium23 libcjson-dev libcjson1 libmicrohttpd-dev libmicrohttpd12 libjs-chart.js "
  for p in "${failed[@]}"; do
    case "$required" in *" $p "*) exit 1 ;; esac
  done
fi
