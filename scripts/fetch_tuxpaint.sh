#!/usr/bin/env bash
# Fetch and unpack the Tux Paint stamps and backgrounds (Debian packages tuxpaint-stamps-default and
# tuxpaint-data, GPL-2) into DIR (default .cache/tuxpaint): the photographed objects the default
# model is trained on, and that the tests generate their scenes from. No root needed; safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.cache/tuxpaint}
if [[ -d $dir/usr/share/tuxpaint/stamps && -d $dir/usr/share/tuxpaint/templates ]]; then
    exit 0
fi
mkdir -p "$dir/debs"
(
    cd "$dir/debs"
    if ! apt-get download tuxpaint-stamps-default tuxpaint-data >/dev/null 2>&1; then
        # the package lists may be missing or stale on a fresh machine
        if [[ $(id -u) == 0 ]]; then apt-get update -qq; else sudo apt-get update -qq; fi
        apt-get download tuxpaint-stamps-default tuxpaint-data >/dev/null
    fi
)
for deb in "$dir"/debs/tuxpaint-*.deb; do
    dpkg-deb -x "$deb" "$dir"
done
rm -r "$dir/debs"
echo "Tux Paint stamps and backgrounds unpacked in $dir"
