#!/bin/sh
# Builds a position-independent static libbpf from Debian's source package.
# Debian's libbpf.a is not built with -fPIC, so it cannot be linked into the
# addon (a shared object); the source comes from the same Debian archive the
# machine already uses, so nothing outside the package registries is fetched.
set -eu
OUT=${1:?usage: build-libbpf.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# deb-src entries mirroring the machine's own apt sources (same archive).
mkdir -p "$WORK/lists/partial" "$WORK/parts"
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" > "$WORK/parts/$(basename "$f")"
done
: > "$WORK/sources"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && sed -n 's/^deb[[:space:]]/deb-src /p' "$f" >> "$WORK/sources"
done
APT="apt-get -q -o Dir::Etc::SourceList=$WORK/sources -o Dir::Etc::SourceParts=$WORK/parts -o Dir::State::Lists=$WORK/lists -o APT::Sandbox::User=root"
$APT update >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; echo "build-libbpf: apt-get update for deb-src failed" >&2; exit 1; }
(cd "$WORK" && $APT source --download-only libbpf >>"$WORK/apt.log" 2>&1) || { cat "$WORK/apt.log" >&2; echo "build-libbpf: apt-get source libbpf failed" >&2; exit 1; }
tar -xzf "$WORK"/libbpf_*.orig.tar.gz -C "$WORK"
SRC=$(find "$WORK" -maxdepth 1 -type d -name 'libbpf-*' | head -n1)
make -s -C "$SRC/src" BUILD_STATIC_ONLY=1 OBJDIR="$WORK/obj" DESTDIR="$OUT" \
  PREFIX=/ LIBDIR=/lib INCLUDEDIR=/include EXTRA_CFLAGS="-fPIC -O2" install >/dev/null
echo "build-libbpf: $(basename "$SRC") -> $OUT/lib/libbpf.a"
