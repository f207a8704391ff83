#!/usr/bin/env bash
# The whole ctest suite under AddressSanitizer and UndefinedBehaviorSanitizer:
# every test, every backend found here (CPU, OpenCL on PoCL, Vulkan on
# lavapipe, the CUDA kernels under their CPU emulation), and every process
# the tests start (distro-cli peers and coordinators included).
#
#   bash scripts/sanitize.sh [BUILD_DIR [CTEST_ARGS...]]
#
# BUILD_DIR defaults to build-sanitize; CTEST_ARGS select tests (e.g.
# build-sanitize -R e2e).
#
# Set-up as in scripts/setup.sh (which it calls, with the sanitizer flags),
# then 12 to 15 minutes on 2 cores. Passes when every test passes or skips,
# no sanitizer reported an error, and no leak came from code of ours.
#
# Leaks: a leak allocated from a library unloaded before exit is reported
# with "<unknown module>" (or a bare address) as its allocating frame, where
# code of ours, linked statically with -g, is named. So such a leak is never
# ours: the Vulkan loader unloads its driver at vkDestroyInstance, and
# lavapipe (Mesa 22.3) leaks 128 bytes in its one-time set-up at each load.
# Those are counted, not failed; any other leak fails. Keep ASan's default
# (fast) unwinder: with fast_unwind_on_malloc=0, lavapipe's first fence wait
# never returned here.
#
# cli_install is left out: it builds a program against the installed library
# with pkg-config's flags, which carry no sanitizer runtime, so it cannot link.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-sanitize}
shift || true
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"

# CMake takes CFLAGS, CXXFLAGS and LDFLAGS as its initial flags on the first
# configure of a build folder (CXX: the CUDA emulation's C++ tests).
CFLAGS="$san" CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" \
    DISTRO_BUILD_DIR="$build" bash scripts/setup.sh
grep -q -- '-fsanitize=address' "$build/CMakeCache.txt" ||
    { echo "sanitize: $build was configured without the sanitizers; remove it or name another folder" >&2; exit 1; }

logs="$build/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
# Reports go to one file per process, children included. abort_on_error
# makes an error fail its process even though a leak alone exits 0.
# use_tls=0: LeakSanitizer's tracer crashed (signal 11) scanning the thread-
# local storage of a process that had PoCL compile kernels. No pointer of
# ours lives only in thread-local storage; glibc's last dlerror() message
# does (a failed dlopen, such as libcuda.so.1's here), hence the suppressions.
printf '%s\n' 'leak:_dlerror_run' 'leak:_dl_exception_create' >"$logs/lsan.supp"
export ASAN_OPTIONS="log_path=$logs/asan:abort_on_error=1:detect_leaks=1"
export LSAN_OPTIONS="exitcode=0:use_tls=0:suppressions=$logs/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:abort_on_error=1"

status=0
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" -E '^cli_install$' "$@" |
    tee "$logs/ctest.log" || status=1

# UBSan writes to stderr (the test's output) when combined with ASan.
errors=$(grep -l -E 'ERROR: AddressSanitizer' "$logs"/asan.* 2>/dev/null || true)
ub=$(grep -c 'runtime error:' "$logs/ctest.log" || true)
ours=0 driver=0
for f in "$logs"/asan.*; do
    [ -e "$f" ] || continue
    # the allocating frame (#1) of each leak report: "in FUNCTION ..." when
    # it could be named, else "(<unknown module>)" or a bare address
    while read -r frame; do
        case "$frame" in
        *" in "*)
            ours=$((ours + 1))
            echo "sanitize: leak allocated $frame (report: $f)" >&2
            ;;
        *) driver=$((driver + 1)) ;;
        esac
    done < <(awk '/(Direct|Indirect) leak of/ { want = 1; next }
                  want && $1 == "#1" { print; want = 0 }' "$f")
done

echo
echo "sanitize: $(ls "$logs"/asan.* 2>/dev/null | wc -l) report file(s) in $logs"
echo "sanitize: AddressSanitizer errors: $(echo -n "$errors" | grep -c . || true)"
for f in $errors; do sed -n '1,30p' "$f" >&2; done
echo "sanitize: UndefinedBehaviorSanitizer errors: $ub"
echo "sanitize: leaks from code of ours or a loaded library: $ours"
echo "sanitize: leaks from unloaded (driver) code, not ours, not failed: $driver"
[ -z "$errors" ] && [ "$ub" = 0 ] && [ "$ours" = 0 ] || status=1
[ $status = 0 ] && echo "sanitize: PASS" || echo "sanitize: FAIL"
exit $status
