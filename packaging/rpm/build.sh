#!/usr/bin/env bash
# Builds the source tarball (tracked files plus the vendored crates a Linux build
# needs, so rpmbuild works offline) and then the binary and source RPMs under
# target/rpm (or $RPM_TOPDIR). Needs cargo (and crates.io or its cache) and python3.
#   packaging/rpm/build.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
name=anycast-healthchecker
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$top/Cargo.toml" | head -n 1)
topdir=${RPM_TOPDIR:-$top/target/rpm}
mkdir -p "$topdir"/{SOURCES,SPECS,BUILD,RPMS,SRPMS}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/$name-$version"
mkdir -p "$src"
# Only what git tracks: no target/, no local files. Times are kept, so that two builds
# of one checkout sharing a CARGO_TARGET_DIR compile once.
(cd "$top" && git ls-files -z | xargs -0 cp -p --parents -t "$src")
(cd "$src" && cargo vendor --locked --versioned-dirs vendor >/dev/null)
# From Cargo.lock, so they never drift: the spec's bundled(crate()) provides and licence
# (Source3), the licence texts of the crates linked in (shipped as %license), and the
# crates no Linux build uses (Windows' among them) reduced to empty stubs.
(cd "$src" && python3 packaging/rpm/crates.py spec) >"$topdir/SOURCES/$name-crates.inc"
(cd "$src" && python3 packaging/rpm/crates.py licenses vendor crate-licenses)
(cd "$src" && python3 packaging/rpm/crates.py prune vendor)
tar -C "$work" -czf "$topdir/SOURCES/$name-$version.tar.gz" "$name-$version"
# RPM_RELEASE: another release of the same version (an upgrade test).
sed "s/^Release:\( *\)1%{?dist}$/Release:\1${RPM_RELEASE:-1}%{?dist}/" "$top/packaging/rpm/$name.spec" \
    > "$topdir/SPECS/$name.spec"
grep -q "^Release: *${RPM_RELEASE:-1}%{?dist}$" "$topdir/SPECS/$name.spec" || { echo "cannot set the release" >&2; exit 1; }
cp "$top/packaging/rpm/$name.sysusers" "$top/packaging/rpm/$name.tmpfiles" "$topdir/SOURCES/"

# On a distribution whose rpm is not the system's package manager (Debian in CI) the
# build requirements cannot be checked and systemd-rpm-macros is missing: skip the
# check and define what those macros would. On RHEL-like hosts nothing is changed.
flags=()
# Who built it: the build system sets this on release builds.
if [ "$(rpm --eval '%{?packager}')" = "" ]; then
    flags+=(--define "packager anycast-healthchecker-rs developers <anycast-healthchecker@localhost>")
fi
if ! rpm -q rpm >/dev/null 2>&1; then
    flags+=(--nodeps)
    if [ "$(rpm --eval '%{?_unitdir}')" = "" ]; then
        flags+=(--load "$top/packaging/rpm/macros.systemd-compat")
    fi
fi
rpmbuild --define "_topdir $topdir" "${flags[@]}" -ba "$topdir/SPECS/$name.spec"
echo "built:"
find "$topdir/RPMS" "$topdir/SRPMS" -name '*.rpm'
