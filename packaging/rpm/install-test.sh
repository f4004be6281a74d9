#!/usr/bin/env bash
# Installs the built RPM the way a host does and follows an operator's path with it:
# rpm -i, the package's sysusers and tmpfiles files, the distribution's Bird 2 started
# as its unit starts it (-u bird -g bird, socket /run/bird/bird.ctl) with the shipped
# Bird example, the daemon started as its unit starts it (the unit's User, Group,
# ExecStart and the sysconfig file's OPTIONS, with the same credentials through
# setpriv: CI machines do not run systemd as PID 1), a shipped example service flipped
# both ways and seen in `birdc show route` at a BGP peer, then the unit's reload
# command (SIGHUP) and stop, with the pidfile gone. Everything it installed is removed
# afterwards. No sudo, no step that README.rst does not list.
#
# Run as root on a machine with rpm, bird2, iproute2, curl and python3, after
# packaging/rpm/build.sh (or check.sh):   packaging/rpm/install-test.sh [RPM]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
rpm_file=${1:-$(find "${RPM_TOPDIR:-$top/target/rpm}/RPMS" -name 'anycast-healthchecker-0*.rpm' | head -n 1)}
[ -f "$rpm_file" ] || { echo "FAILED: no RPM found (run packaging/rpm/build.sh first)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAILED: needs root (it installs a package and makes namespaces)" >&2; exit 1; }

say() { printf '== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
# Waits up to 60 s for a command to succeed (web.conf needs 3 checks 3 s apart).
wait_for() {
    local what=$1; shift
    for _ in $(seq 600); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    fail "timed out waiting for $what"
}

run_bird_existed=$([ -d /run/bird ] && echo yes || echo no)
ns_a=ahcrpm$$a
ns_b=ahcrpm$$b
scratch=$(mktemp -d)
rpm -q anycast-healthchecker >/dev/null 2>&1 && fail "anycast-healthchecker is already installed here"
cleanup() {
    set +e
    [ -n "${daemon_pid:-}" ] && kill -KILL "$daemon_pid" 2>/dev/null
    for pidfile in "$scratch/peer.pid" /run/bird/ahc-test.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
    done
    [ -n "${web_pid:-}" ] && kill "$web_pid" 2>/dev/null
    sleep 0.3
    ip netns del "$ns_a" 2>/dev/null
    ip netns del "$ns_b" 2>/dev/null
    rm -f /etc/anycast-healthchecker.d/web.conf
    rpm -e anycast-healthchecker >/dev/null 2>&1
    [ "$run_bird_existed" = no ] && rm -rf /run/bird
    userdel healthchecker 2>/dev/null
    groupdel healthchecker 2>/dev/null
    rm -rf /var/lib/anycast-healthchecker /run/anycast-healthchecker /run/bird/ahc-test.pid "$scratch"
}
trap cleanup EXIT

say "rpm -i $(basename "$rpm_file")"
rpm -i --nodeps "$rpm_file"
# What systemd does at boot or on package install (%post runs tmpfiles too).
systemd-sysusers /usr/lib/sysusers.d/anycast-healthchecker.conf
systemd-tmpfiles --create /usr/lib/tmpfiles.d/anycast-healthchecker.conf
id -nG healthchecker | grep -qw bird || fail "healthchecker is not in Bird's group"
for file in /var/lib/anycast-healthchecker/anycast-prefixes.conf /var/lib/anycast-healthchecker/6/anycast-prefixes.conf; do
    [ "$(stat -c %U "$file")" = healthchecker ] || fail "$file is not the daemon's"
done
grep -q '10.189.200.255/32' /var/lib/anycast-healthchecker/anycast-prefixes.conf || fail "no dummy in the v4 file"

say "the example service, the web server it checks, and two hosts"
install -m 0644 /usr/share/doc/anycast-healthchecker/examples/anycast-healthchecker.d/web.conf \
    /etc/anycast-healthchecker.d/web.conf
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add ahcrpm$$x type veth peer name ahcrpm$$y
ip link set ahcrpm$$x netns "$ns_a"
ip link set ahcrpm$$y netns "$ns_b"
ip -n "$ns_a" addr add 192.0.2.1/24 dev ahcrpm$$x
ip -n "$ns_b" addr add 192.0.2.2/24 dev ahcrpm$$y
ip -n "$ns_a" addr add fd00:ac::1/64 dev ahcrpm$$x nodad
ip -n "$ns_b" addr add fd00:ac::2/64 dev ahcrpm$$y nodad
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set ahcrpm$$x up
ip -n "$ns_b" link set ahcrpm$$y up
# web.conf checks http://10.52.12.1/health and needs 10.52.12.1 on lo.
ip -n "$ns_a" addr add 10.52.12.1/32 dev lo
mkdir -p "$scratch/www"
echo ok > "$scratch/www/health"
start_web() {
    ip netns exec "$ns_a" python3 -m http.server --bind 10.52.12.1 --directory "$scratch/www" 80 \
        >/dev/null 2>&1 &
    web_pid=$!
}
start_web

say "the distribution's Bird 2 with the shipped example, and a BGP peer"
# As bird.service does (its prepare-environment makes /run/bird for the bird user).
install -d -o bird -g bird /run/bird
ip netns exec "$ns_a" /usr/sbin/bird -u bird -g bird -P /run/bird/ahc-test.pid \
    -c /usr/share/doc/anycast-healthchecker/examples/bird/bird2.conf
cat > "$scratch/peer.conf" <<'PEER'
router id 192.0.2.2;
protocol device {}
protocol bgp to_a4 { local 192.0.2.2 as 65002; neighbor 192.0.2.1 as 65001; passive yes;
  ipv4 { import all; export none; }; }
protocol bgp to_a6 { local fd00:ac::2 as 65002; neighbor fd00:ac::1 as 65001; passive yes;
  ipv6 { import all; export none; }; }
PEER
ip netns exec "$ns_b" /usr/sbin/bird -c "$scratch/peer.conf" -s "$scratch/peer.ctl" -P "$scratch/peer.pid"
wait_for "Bird's control socket" birdc -s /run/bird/bird.ctl show status
peer_has() { birdc -s "$scratch/peer.ctl" show route | grep -q "^$1 "; }
peer_lacks() { ! birdc -s "$scratch/peer.ctl" show route | grep -q "^$1 "; }

say "the daemon, as its unit starts it"
unit=/usr/lib/systemd/system/anycast-healthchecker.service
user=$(sed -n 's/^User=//p' "$unit")
group=$(sed -n 's/^Group=//p' "$unit")
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ "$user" = healthchecker ] && [ "$group" = healthchecker ] || fail "the unit's User/Group changed: $user/$group"
# EnvironmentFile=-/etc/sysconfig/anycast-healthchecker, then ExecStart's $OPTIONS.
# shellcheck disable=SC1091
. /etc/sysconfig/anycast-healthchecker
command_line=${exec_start//\$OPTIONS/$OPTIONS}
log="$scratch/daemon.log"
# shellcheck disable=SC2086
ip netns exec "$ns_a" setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs \
    $command_line 2>"$log" &
daemon_pid=$!
wait_for "the pidfile" test -s /run/anycast-healthchecker/anycast-healthchecker.pid

say "flip web.example.com: the peer learns, loses and learns 10.52.12.1/32"
wait_for "the peer to learn 10.52.12.1/32" peer_has 10.52.12.1/32
kill "$web_pid"; wait "$web_pid" 2>/dev/null || true
wait_for "the peer to lose 10.52.12.1/32" peer_lacks 10.52.12.1/32
start_web
wait_for "the peer to learn 10.52.12.1/32 again" peer_has 10.52.12.1/32
birdc -s "$scratch/peer.ctl" show route
for dummy in 10.189.200.255/32 2001:db8::1/128; do
    peer_lacks "$dummy" || fail "the peer learned the dummy $dummy"
done
grep -q "ERROR" "$log" && { cat "$log"; fail "the daemon logged an error"; }

say "systemctl reload's command (ExecReload: kill -HUP), then stop"
reload=$(sed -n 's/^ExecReload=//p' "$unit")
${reload//\$MAINPID/$daemon_pid}
wait_for "the reload" grep -q "reload applied: 1 services kept" "$log"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "the daemon exited non-zero"
daemon_pid=
[ ! -e /run/anycast-healthchecker/anycast-healthchecker.pid ] || fail "the pidfile is still there"
grep -c "reconfigured BIRD daemon" "$log" | grep -qv '^0$' || fail "Bird was never reconfigured"
echo "install test passed"
