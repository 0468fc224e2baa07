#!/bin/sh
# Sets up a Debian 12 machine (as root) and builds mfr in this directory:
# installs the missing build dependencies with apt-get, bootstraps the
# autotools files, configures and builds. Extra arguments go to ./configure,
# as does $MFR_CONFIGURE_FLAGS. Safe to run again: it only does what is missing.
set -eu
cd "$(dirname "$0")/.."

packages="build-essential autoconf automake libtool pkg-config zlib1g-dev libpng-dev libjpeg62-turbo-dev check gnuplot-nox"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "mfr setup: installing$missing" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "mfr setup: run as root (or install:$missing)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -x configure ] || [ configure.ac -nt configure ]; then
    autoreconf -fi
fi
if [ ! -f Makefile ] || [ -n "$*${MFR_CONFIGURE_FLAGS:-}" ]; then
    # shellcheck disable=SC2086
    ./configure ${MFR_CONFIGURE_FLAGS:-} "$@"
fi
make -j"$(nproc)"
