#!/usr/bin/env bash
# Builds the source tarball (tracked files plus vendored crates, so rpmbuild works
# offline) and then the binary and source RPMs under target/rpm (or $RPM_TOPDIR).
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
# Only what git tracks: no target/, no local files.
(cd "$top" && git ls-files -z | xargs -0 cp --parents -t "$src")
(cd "$src" && cargo vendor --locked --versioned-dirs vendor >/dev/null)
tar -C "$work" -czf "$topdir/SOURCES/$name-$version.tar.gz" "$name-$version"
cp "$top/packaging/rpm/$name.spec" "$topdir/SPECS/"

# On a distribution whose rpm database does not know the build requirements (Debian
# in CI), they cannot be checked; on RHEL-like hosts they are.
flags=()
if ! rpm -q rpm >/dev/null 2>&1; then
    flags+=(--nodeps)
fi
rpmbuild --define "_topdir $topdir" "${flags[@]}" -ba "$topdir/SPECS/$name.spec"
echo "built:"
find "$topdir/RPMS" "$topdir/SRPMS" -name '*.rpm'
