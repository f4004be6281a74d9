#!/usr/bin/env bash
# Builds the RPMs (build.sh) and checks them: the file list, rpmlint (no errors), that
# the spec's %check ran the unit tests and passed, and `systemd-analyze verify` on the
# unit. Needs rpm, rpmlint and systemd-analyze (Debian: apt-get install rpm rpmlint
# systemd); the unit check also needs root (a private mount namespace).
#   packaging/rpm/check.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
here="$top/packaging/rpm"
topdir=${RPM_TOPDIR:-$top/target/rpm}
export RPM_TOPDIR=$topdir
# One cargo target directory for every build of the package, so that systemd-test.sh's
# release 2 (the upgrade) compiles nothing again.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$top/target/rpm-cargo}
rm -rf "$topdir"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== building the RPMs"
if ! "$here/build.sh" >"$log" 2>&1; then
    tail -n 50 "$log"
    echo "FAILED: rpmbuild" >&2
    exit 1
fi
grep -E '^(pruned|copied) ' "$log" || true
rpm_file=$(find "$topdir/RPMS" -name 'anycast-healthchecker-*.rpm' | head -n 1)
srpm_file=$(find "$topdir/SRPMS" -name 'anycast-healthchecker-*.src.rpm' | head -n 1)
[ -n "$rpm_file" ] && [ -n "$srpm_file" ] || { echo "FAILED: no RPM or SRPM was built" >&2; exit 1; }

echo "== %check ran the unit tests and they passed"
check_section=$(sed -n '/^Executing(%check)/,/^Executing(/p' "$log")
echo "$check_section" | grep -E '^test result: ok\. [1-9][0-9]* passed; 0 failed' || {
    echo "$check_section" | tail -n 30
    echo "FAILED: %check" >&2
    exit 1
}

echo "== the package holds every file"
files=$(rpm -qlp "$rpm_file")
missing=0
for want in \
    /usr/bin/anycast-healthchecker \
    /etc/anycast-healthchecker.conf \
    /etc/anycast-healthchecker.d \
    /etc/sysconfig/anycast-healthchecker \
    /usr/lib/systemd/system/anycast-healthchecker.service \
    /usr/lib/tmpfiles.d/anycast-healthchecker.conf \
    /usr/lib/sysusers.d/anycast-healthchecker.conf \
    /var/lib/anycast-healthchecker \
    /var/lib/anycast-healthchecker/6 \
    /run/anycast-healthchecker \
    /usr/share/doc/anycast-healthchecker/README.rst \
    /usr/share/doc/anycast-healthchecker/docs/configuration.rst \
    /usr/share/doc/anycast-healthchecker/examples/bird/bird2.conf \
    /usr/share/doc/anycast-healthchecker/examples/prometheus/anycast-healthchecker.rules.yml \
    /usr/share/doc/anycast-healthchecker/examples/grafana/anycast-healthchecker.json \
    /usr/share/doc/anycast-healthchecker/examples/rsyslog/anycast-healthchecker.conf \
    /usr/share/doc/anycast-healthchecker/examples/systemd/sudo.conf \
    /usr/share/anycast-healthchecker/anycast-lab \
    /etc/logrotate.d/anycast-healthchecker \
    /var/log/anycast-healthchecker \
    /usr/share/licenses/anycast-healthchecker-0.1.0/LICENSE; do
    if ! grep -qx "$want" <<<"$files"; then
        echo "missing: $want"
        missing=1
    fi
done
[ "$missing" = 0 ] || { echo "FAILED: file list" >&2; exit 1; }
config=$(rpm -qp --configfiles "$rpm_file")
for want in /etc/anycast-healthchecker.conf /etc/sysconfig/anycast-healthchecker /etc/logrotate.d/anycast-healthchecker; do
    grep -qx "$want" <<<"$config" || { echo "FAILED: $want is not %config" >&2; exit 1; }
done
scripts=$(rpm -qp --scripts "$rpm_file")
grep -q 'systemctl' <<<"$scripts" || { echo "FAILED: no systemd scriptlets" >&2; exit 1; }
# The sysusers text is a here-document: its end marker must stand alone on its line,
# or it swallows the rest of %pre.
grep -qx 'SYSTEMD_INLINE_EOF' <<<"$scripts" || { echo "FAILED: %pre's here-document never ends" >&2; exit 1; }
echo "all present"

echo "== what it declares: BuildRequires, bundled crates, licence"
# Every tool a linked crate's build script calls is a build requirement (a minimal
# mock buildroot has none of them otherwise).
build_requires=$(rpm -qp --requires "$srpm_file")
tools=$(cd "$top" && python3 packaging/rpm/crates.py build-tools)
[ -n "$tools" ] || { echo "FAILED: no crate build script found (ring needs gcc)" >&2; exit 1; }
while read -r crate tool; do
    grep -q "^$tool\b" <<<"$build_requires" || { echo "FAILED: $crate's build script needs $tool: BuildRequires: $tool" >&2; exit 1; }
done <<<"$tools"
# One bundled(crate()) per crate linked in, as Cargo.lock has them, and the licence
# of the whole.
generated=$(find "$topdir/SOURCES" -name 'anycast-healthchecker-crates.inc')
want_provides=$(sed -n 's/^Provides: *//p' "$generated" | sort)
have_provides=$(rpm -qp --provides "$rpm_file" | grep '^bundled(crate(' | sort)
[ "$want_provides" = "$have_provides" ] || {
    diff <(echo "$want_provides") <(echo "$have_provides") >&2
    echo "FAILED: the bundled(crate()) provides" >&2; exit 1
}
grep -qx 'bundled(crate(ring)) = [0-9.]*' <<<"$have_provides" || { echo "FAILED: no bundled ring" >&2; exit 1; }
want_license=$(sed -n 's/^%global crates_license //p' "$generated")
have_license=$(rpm -qp --qf '%{LICENSE}' "$rpm_file")
[ "$have_license" = "$want_license" ] && [[ $have_license == "Apache-2.0 AND "*ISC* ]] ||
    { echo "FAILED: License is '$have_license', want '$want_license'" >&2; exit 1; }
rpm -qlp "$rpm_file" | grep -q '^/usr/share/licenses/anycast-healthchecker[^/]*/crate-licenses/ring-[0-9.]*/LICENSE$' ||
    { echo "FAILED: ring's licence text is not shipped" >&2; exit 1; }
echo "$(wc -l <<<"$have_provides") bundled crates; License: $have_license"
# The source carries only what a Linux build needs: Windows' crates are empty stubs.
windows_bytes=$(tar -tzvf "$topdir/SOURCES/anycast-healthchecker-"*.tar.gz | awk '$6 ~ /\/vendor\/win/ {sum += $3} END {print sum + 0}')
[ "$windows_bytes" -lt 100000 ] || { echo "FAILED: $windows_bytes bytes of Windows crates in the source" >&2; exit 1; }
echo "SRPM: $(du -k "$srpm_file" | cut -f1) KiB; Windows crates: $windows_bytes bytes"

echo "== rpmlint"
# rpmlint resolves the spec's %include beside the spec: lint the built spec with its
# generated crate list next to it.
lint_dir=$(mktemp -d)
cp "$topdir/SPECS/anycast-healthchecker.spec" "$topdir/SOURCES/anycast-healthchecker-crates.inc" "$lint_dir/"
lint=$(rpmlint -r "$here/anycast-healthchecker.rpmlintrc" "$rpm_file" "$srpm_file" "$lint_dir/anycast-healthchecker.spec" 2>&1 || true)
rm -rf "$lint_dir"
echo "$lint" | tail -n 20
if ! grep -Eq ' 0 errors' <<<"$lint"; then
    echo "FAILED: rpmlint reports errors" >&2
    exit 1
fi

echo "== systemd-analyze verify"
# The unit starts /usr/bin/anycast-healthchecker: give it the packaged binary in a
# private mount namespace (an overlay on /usr/bin), so the host stays untouched.
scratch=$(mktemp -d)
(cd "$scratch" && rpm2cpio "$rpm_file" | cpio -idm --quiet ./usr/bin/anycast-healthchecker)
mkdir -p "$scratch/upper" "$scratch/work"
cp "$scratch/usr/bin/anycast-healthchecker" "$scratch/upper/"
unit="$here/anycast-healthchecker.service"
unshare -m sh -c "mount -t overlay overlay -o lowerdir=/usr/bin,upperdir=$scratch/upper,workdir=$scratch/work /usr/bin \
    && systemd-analyze verify '$unit'"
rm -rf "$scratch"
echo "unit verified"
echo "packaging checks passed"
