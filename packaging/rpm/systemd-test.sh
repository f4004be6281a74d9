#!/usr/bin/env bash
# The RPM as a host runs it: installed with `rpm -i` inside a machine whose PID 1 is a
# real systemd, with Debian's Bird 2 unit running the shipped Bird example and a BGP
# peer in a network namespace; then every promise of the unit, each shown at the peer
# or in systemd's own state: readiness and the status line, reload (good and bad),
# the watchdog, stop with withdraw and with drain, restart, journald's severities
# (stream and native protocol, read back by rsyslog's imjournal as on RHEL), Bird
# stopped and restarted under the daemon, the sandbox's score and a drop-in that
# relaxes it, a reboot (boot order, prefix files reset), an upgrade and an erase.
#
# The machine is a container over a copy-on-write view of this machine's root, booted
# with systemd-nspawn (a tmpfs takes every write); it is powered off and unmounted on
# every exit, a failing one included. A failure names its step and shows `systemctl
# status` and the last journal lines.
#
# Run as root after packaging/rpm/check.sh (which builds the RPM) on a Debian machine
# with systemd, systemd-container, dbus, rpm, bird2, iproute2, python3 and rsyslog:
#     packaging/rpm/systemd-test.sh
# It builds release 2 of the same RPM for the upgrade step (in the background, sharing
# check.sh's cargo target directory) and a debug build of the daemon for its fault
# hooks (cargo build), if they are missing.
set -Eeuo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
topdir=${RPM_TOPDIR:-$top/target/rpm}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$top/target/rpm-cargo}
started_at=$SECONDS
step_name="setup"
step_started=$SECONDS

say() { printf '== %s\n' "$*"; }
step_count=0
step() {
    printf '   (%ds)\n' $((SECONDS - step_started))
    step_count=$((step_count + 1))
    step_name="$step_count. $1"
    step_started=$SECONDS
    say "$step_name"
}

[ "$(id -u)" = 0 ] || { echo "FAILED: needs root (it boots a container)" >&2; exit 1; }
for program in systemd-nspawn nsenter rpm birdc python3 rsyslogd; do
    command -v "$program" >/dev/null || { echo "FAILED: $program is missing" >&2; exit 1; }
done
rpm_1=$(find "$topdir/RPMS" -name 'anycast-healthchecker-0*-1.*.rpm' 2>/dev/null | head -n 1)
[ -f "$rpm_1" ] || { echo "FAILED: no release-1 RPM under $topdir (run packaging/rpm/check.sh)" >&2; exit 1; }

lab=$(mktemp -d /run/ahc-systemd-test.XXXXXX)
root=$lab/root
nspawn=
leader=
rebuild=

in_lab() { nsenter -t "$leader" -a "$@"; }
# grep that reads all of its input: with pipefail, `cmd | grep -q` fails when grep
# exits first and cmd dies of SIGPIPE.
has() { grep "$@" >/dev/null; }

# On failure: the step, the unit's status and the journal, then the cleanup.
fail() {
    trap - ERR
    printf '\nFAILED in step "%s": %s\n' "$step_name" "$*" >&2
    if [ -n "$leader" ]; then
        in_lab systemctl status anycast-healthchecker --no-pager -l -n 0 >&2 || true
        in_lab journalctl -u anycast-healthchecker -u bird --no-pager -n 40 -o short-precise >&2 || true
        echo "-- what the daemons decided of the routes:" >&2
        in_lab journalctl -u anycast-healthchecker --no-pager -o short-precise |
            grep -E 'announcing|withdrawing|degrading|changed to|maintenance|drain|starting anycast|shutdown is complete' |
            tail -n 25 >&2 || true
        echo "-- the last errors:" >&2
        in_lab journalctl -u anycast-healthchecker --no-pager -n 10 -p err -o short-precise >&2 || true
    fi
    exit 1
}
trap 'fail "a command failed (line $LINENO): $BASH_COMMAND"' ERR

cleanup() {
    set +e
    trap - ERR
    [ -n "$rebuild" ] && kill "$rebuild" 2>/dev/null && wait "$rebuild" 2>/dev/null
    power_off
    umount "$root" 2>/dev/null
    umount "$lab/cow" 2>/dev/null
    rm -rf "$lab"
}
trap cleanup EXIT

# Polls a command for up to 90 s (the shipped web.conf rises in three checks 3 s apart).
wait_for() {
    local what=$1; shift
    local deadline=$((SECONDS + 90))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timed out waiting for $what"
        sleep 0.1
    done
}

power_off() {
    [ -n "$nspawn" ] || return 0
    if [ -n "$leader" ]; then
        in_lab systemctl poweroff >/dev/null 2>&1 || true
    fi
    for _ in $(seq 300); do
        kill -0 "$nspawn" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$nspawn" 2>/dev/null || true
    wait "$nspawn" 2>/dev/null || true
    nspawn=
    leader=
}

boot() {
    systemd-nspawn -D "$root" --boot --machine=ahc-lab --register=no --keep-unit --private-network -q \
        >>"$lab/console.log" 2>&1 &
    nspawn=$!
    for _ in $(seq 300); do
        leader=$(pgrep -P "$nspawn" -x systemd | head -n 1) && [ -n "$leader" ] && break
        sleep 0.1
    done
    [ -n "$leader" ] || { cat "$lab/console.log" >&2; fail "the container's systemd did not start"; }
    wait_for "the container to boot" sh -c "nsenter -t $leader -a systemctl is-system-running | grep -qE 'running|degraded'"
}

# What the BGP peer has, and one route's line there: its time changes whenever the
# route is withdrawn and announced again, so an unchanged line means no blink.
peer() { in_lab birdc -s /run/ahc-peer.ctl "$@"; }
peer_has() { peer show route | has "^$1 "; }
peer_lacks() { ! peer show route | has "^$1 "; }
peer_line() { peer show route "$1" | grep "^$1 "; }
as_path_is() { peer show route "$1" all | has "BGP.as_path: $2\$"; }
unit() { in_lab systemctl show anycast-healthchecker -p "$1" --value; }
status_has() { unit StatusText | has -F "$1"; }
journal() { in_lab journalctl -u anycast-healthchecker --no-pager -o cat "$@"; }
journal_has() { journal | has -F "$1"; }
count() { journal | grep -cF "$1" || true; }
service_file() { in_lab tee "/etc/anycast-healthchecker.d/$1.conf" >/dev/null; }
lab_file() { in_lab tee "$1" >/dev/null; }
runtime_dropin() {
    in_lab mkdir -p /run/systemd/system/anycast-healthchecker.service.d
    lab_file "/run/systemd/system/anycast-healthchecker.service.d/$1.conf"
    in_lab systemctl daemon-reload
}
drop_runtime_dropins() {
    in_lab rm -rf /run/systemd/system/anycast-healthchecker.service.d
    in_lab systemctl daemon-reload
}

# Release 2 of the same package, for the upgrade step, while the lab runs.
rpm_2=$(find "$topdir/RPMS" -name 'anycast-healthchecker-0*-2.*.rpm' 2>/dev/null | head -n 1)
if [ -z "$rpm_2" ]; then
    (RPM_RELEASE=2 RPM_TOPDIR=$topdir "$top/packaging/rpm/build.sh" >"$lab/rebuild.log" 2>&1) &
    rebuild=$!
fi
# A debug build: its fault hooks make a service thread die, for journald's crit.
debug_binary=$top/target/debug/anycast-healthchecker
if [ ! -x "$debug_binary" ]; then
    (cd "$top" && CARGO_TARGET_DIR=$top/target cargo build --locked --quiet)
fi

say "the lab: this machine's root, copy-on-write, with a network and a BGP peer"
mkdir -p "$lab/cow" "$root"
mount -t tmpfs tmpfs "$lab/cow"
mkdir -p "$lab/cow/upper" "$lab/cow/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$lab/cow/upper,workdir=$lab/cow/work" "$root"
# Services this machine has enabled that the lab does not run; Bird starts once the
# package has made the prefix files its example includes.
for name in bird postgresql nsd prometheus prometheus-node-exporter apt-daily.timer apt-daily-upgrade.timer \
    man-db.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer logrotate.timer; do
    systemctl --root="$root" mask "$name" >/dev/null 2>&1 || true
done
systemctl --root="$root" unmask bird >/dev/null 2>&1 || true
systemctl --root="$root" disable bird >/dev/null 2>&1 || true
mkdir -p "$root/etc/ahc-lab" "$root/var/tmp/ahc-www"
echo ok >"$root/var/tmp/ahc-www/health"
cp "$rpm_1" "$root/var/tmp/ahc-1.rpm"
install -m 0755 "$debug_binary" "$root/usr/local/sbin/anycast-healthchecker-debug"
# The host's side of the BGP session on a veth pair, the peer in a namespace; the
# service address on lo, as web.conf expects. Units, so that a reboot brings them back.
cat >"$root/etc/systemd/system/ahc-lab-net.service" <<'UNIT'
[Unit]
Description=The lab's network: a veth pair to the BGP peer's namespace
Before=network-online.target bird.service anycast-healthchecker.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -ec '\
  ip netns add ahc-peer; ip link add ahc0 type veth peer name ahc1; ip link set dev ahc1 netns ahc-peer; \
  ip link set lo up; ip link set ahc0 up; ip addr add 192.0.2.1/24 dev ahc0; ip addr add fd00:ac::1/64 dev ahc0 nodad; \
  ip addr add 10.52.12.1/32 dev lo; \
  ip -n ahc-peer link set lo up; ip -n ahc-peer link set ahc1 up; \
  ip -n ahc-peer addr add 192.0.2.2/24 dev ahc1; ip -n ahc-peer addr add fd00:ac::2/64 dev ahc1 nodad'
[Install]
WantedBy=multi-user.target
UNIT
cat >"$root/etc/systemd/system/ahc-peer.service" <<'UNIT'
[Unit]
Description=The lab's BGP peer
Requires=ahc-lab-net.service
After=ahc-lab-net.service
[Service]
NetworkNamespacePath=/run/netns/ahc-peer
ExecStart=/usr/sbin/bird -f -c /etc/ahc-lab/peer.conf -s /run/ahc-peer.ctl -P /run/ahc-peer.pid
[Install]
WantedBy=multi-user.target
UNIT
cat >"$root/etc/ahc-lab/peer.conf" <<'PEER'
router id 192.0.2.2;
protocol device {}
protocol bgp to_a4 { local 192.0.2.2 as 65002; neighbor 192.0.2.1 as 65001; passive yes;
  ipv4 { import all; export none; }; }
protocol bgp to_a6 { local fd00:ac::2 as 65002; neighbor fd00:ac::1 as 65001; passive yes;
  ipv6 { import all; export none; }; }
PEER
cat >"$root/etc/systemd/system/ahc-web.service" <<'UNIT'
[Unit]
Description=The web server the shipped web.conf checks
Requires=ahc-lab-net.service
After=ahc-lab-net.service
[Service]
ExecStart=/usr/bin/python3 -m http.server --bind 10.52.12.1 --directory /var/tmp/ahc-www 80
[Install]
WantedBy=multi-user.target
UNIT
for name in ahc-lab-net ahc-peer ahc-web; do
    systemctl --root="$root" enable "$name" >/dev/null 2>&1
done
# rsyslog reads the journal as on RHEL (imjournal), and files this daemon's lines
# with their severity.
cat >"$root/etc/rsyslog.conf" <<'RSYSLOG'
global(workDirectory="/var/spool/rsyslog")
module(load="imjournal" StateFile="imjournal.state" IgnorePreviousMessages="on")
template(name="severity" type="string" string="%syslogseverity-text% %programname%: %msg%\n")
if $programname == 'anycast-healthchecker' then action(type="omfile" file="/var/log/ahc-severity.log" template="severity")
RSYSLOG
rm -rf "$root/etc/rsyslog.d"
mkdir -p "$root/var/spool/rsyslog"
boot_started=$SECONDS
boot

step "rpm -i: the user from sysusers, the files from tmpfiles, both applied by systemd"
# (Debian's rpm warns that it is not the system's package manager: kept for failures.)
in_lab rpm -i --nodeps /var/tmp/ahc-1.rpm 2>"$lab/rpm.err" || { cat "$lab/rpm.err" >&2; fail "rpm -i"; }
in_lab getent passwd healthchecker | has ':/var/lib/anycast-healthchecker:' || fail "no healthchecker user"
in_lab id -nG healthchecker | has -w bird || fail "healthchecker is not in Bird's group"
for file in /var/lib/anycast-healthchecker/anycast-prefixes.conf /var/lib/anycast-healthchecker/6/anycast-prefixes.conf; do
    [ "$(in_lab stat -c %U:%a "$file")" = healthchecker:644 ] || fail "$file is not healthchecker's, 0644"
done
in_lab grep -q '10.189.200.255/32' /var/lib/anycast-healthchecker/anycast-prefixes.conf || fail "no dummy in the v4 file"
[ "$(in_lab stat -c %U "/run/anycast-healthchecker")" = healthchecker ] || fail "no /run/anycast-healthchecker"
in_lab systemctl cat anycast-healthchecker >/dev/null

step "Bird, the distribution's unit with the shipped example, and the daemon with no service"
in_lab cp /usr/share/doc/anycast-healthchecker/examples/bird/bird2.conf /etc/bird/bird.conf
in_lab systemctl enable --now bird 2>/dev/null
wait_for "Bird's control socket" in_lab birdc -s /run/bird/bird.ctl show status
in_lab systemctl enable --now anycast-healthchecker 2>/dev/null
# `start` returned: the daemon said READY, and its status line was there before.
[ "$(unit ActiveState)" = active ] || fail "not active after start"
[ "$(unit StatusText)" = "0 services; Bird in sync" ] || fail "status line: $(unit StatusText)"
journal_has "0 services (0 checked, 0 disabled), 0.0 checks/s;" || fail "the start summary: $(journal | grep checks/s)"
journal | has -- '-0.0 checks/s' && fail "the summary says -0.0 checks/s"

step "systemctl reload adds the shipped web.conf: the status line and the peer follow"
in_lab cp /usr/share/doc/anycast-healthchecker/examples/anycast-healthchecker.d/web.conf /etc/anycast-healthchecker.d/
in_lab systemctl reload anycast-healthchecker
wait_for "the reload" journal_has "reload applied: 0 services kept, 0 retuned (state kept), 0 changed, 1 added, 0 removed"
wait_for "the status line to count web" status_has "1 service: 1 "
wait_for "the peer to learn web's 10.52.12.1/32" peer_has 10.52.12.1/32
wait_for "the status line to say up" status_has "1 service: 1 up; Bird in sync; reloaded 20"
echo "   status: $(unit StatusText)"

step "the shipped service flipped both ways at the peer"
in_lab systemctl stop ahc-web
wait_for "the peer to lose 10.52.12.1/32" peer_lacks 10.52.12.1/32
wait_for "the status line to say down" status_has "1 service: 1 down"
in_lab systemctl start ahc-web
wait_for "the peer to learn 10.52.12.1/32 again" peer_has 10.52.12.1/32
for dummy in 10.189.200.255/32 2001:db8::1/128; do
    peer_lacks "$dummy" || fail "the peer learned the dummy $dummy"
done
[ -z "$(journal -p err)" ] || fail "errors logged: $(journal -p err)"
journal_has "reconfigured BIRD daemon with 'configure' on /run/bird/bird.ctl" || fail "Bird never reconfigured"

step "reload with a new service: the peer learns it, web's route does not blink"
in_lab touch /etc/ahc-lab/db-up
service_file db <<'CONF'
[db.example.com]
check_cmd = /usr/bin/test -e /etc/ahc-lab/db-up
check_disabled = false
ip_prefix = 10.52.12.2/32
ip_check_disabled = true
check_interval = 0.5
check_timeout = 0.2
check_rise = 1
check_fail = 1
CONF
web_line=$(peer_line 10.52.12.1/32)
in_lab systemctl reload anycast-healthchecker
wait_for "the peer to learn db's 10.52.12.2/32" peer_has 10.52.12.2/32
[ "$(peer_line 10.52.12.1/32)" = "$web_line" ] || fail "web's route blinked: $web_line -> $(peer_line 10.52.12.1/32)"

step "a broken config: systemctl reload fails, routes stay, one err line; the next good reload applies"
in_lab sed -i 's/^check_rise = 1$/check_rise = 0/' /etc/anycast-healthchecker.d/db.conf
db_line=$(peer_line 10.52.12.2/32)
if in_lab systemctl reload anycast-healthchecker 2>"$lab/reload.err"; then
    fail "systemctl reload succeeded with a broken config"
fi
echo "   systemctl reload: exit 1, $(head -n 1 "$lab/reload.err")"
[ "$(unit ActiveState)" = active ] || fail "the unit is $(unit ActiveState) after a rejected reload"
# Our lines at err (systemd adds its own "Reload failed").
ours_at_err=$(journal -p err -t anycast-healthchecker)
grep -q 'db.conf: \[db.example.com\] check_rise' <<<"$ours_at_err" || fail "no err line naming the key: $ours_at_err"
[ "$(wc -l <<<"$ours_at_err")" = 1 ] || fail "not one err line: $ours_at_err"
echo "   at err: $ours_at_err"
[ "$(peer_line 10.52.12.1/32)" = "$web_line" ] && [ "$(peer_line 10.52.12.2/32)" = "$db_line" ] ||
    fail "a route blinked on a rejected reload"
in_lab sed -i -e 's/^check_rise = 0$/check_rise = 1/' -e 's/check_interval = 0.5/check_interval = 0.2/' /etc/anycast-healthchecker.d/db.conf
in_lab systemctl reload anycast-healthchecker
wait_for "the good reload" journal_has "reload applied: 1 services kept, 1 retuned (state kept), 0 changed, 0 added, 0 removed"

step "journald, as installed: the catalog's priorities, in the journal and at rsyslog"
warnings=$(journal -p warning)
grep -q 'changed to DOWN event=down service=web.example.com' <<<"$warnings" || fail "no down at -p warning: $warnings"
grep -q 'running /usr/bin/curl' <<<"$warnings" && fail "per-check lines at -p warning"
# The PRIORITY journald stored for the first of our lines that contains $1.
priority_of() {
    journal -o json -t anycast-healthchecker |
        python3 -c 'import json, sys
for line in sys.stdin:
    entry = json.loads(line)
    if sys.argv[1] in str(entry.get("MESSAGE", "")):
        print(entry["PRIORITY"]); break' "$1"
}
[ "$(priority_of 'event=down service=web')" = 4 ] || fail "down is not priority 4"
[ "$(priority_of 'event=up service=web')" = 5 ] || fail "up is not priority 5"
[ "$(priority_of 'running /usr/bin/curl')" = 6 ] || fail "a check line is not priority 6"
wait_for "rsyslog to file the down as a warning" in_lab grep -q '^warning anycast-healthchecker: .*event=down service=web' /var/log/ahc-severity.log
in_lab grep -q '^notice anycast-healthchecker: .*event=up service=web' /var/log/ahc-severity.log || fail "rsyslog: up is not notice"
in_lab grep -q '^info anycast-healthchecker: .*running /usr/bin/curl' /var/log/ahc-severity.log || fail "rsyslog: a check line is not info"

step "journald's native protocol (log_journald = true): fields, and the same severities at rsyslog"
in_lab sed -i 's/^log_syslog = false$/log_syslog = false\nlog_journald = true/' /etc/anycast-healthchecker.conf
in_lab systemctl reload anycast-healthchecker
wait_for "the reload with log_journald" in_lab journalctl --no-pager EVENT=reload_applied
in_lab rm /etc/ahc-lab/db-up
wait_for "EVENT=down for db" in_lab sh -c "journalctl --no-pager -o cat EVENT=down SERVICE=db.example.com IP_PREFIX=10.52.12.2/32 | grep -q 'db.example.com changed to DOWN'"
in_lab journalctl --no-pager -o verbose EVENT=down SERVICE=db.example.com | has 'PRIORITY=4' || fail "native down not at 4"
in_lab journalctl --no-pager -o verbose EVENT=down SERVICE=db.example.com | has '_SYSTEMD_UNIT=anycast-healthchecker.service' ||
    fail "the native lines are not the unit's"
wait_for "rsyslog to file the native down as a warning" in_lab grep -q '^warning anycast-healthchecker: db.example.com changed to DOWN event=down' /var/log/ahc-severity.log
wait_for "the peer to lose db" peer_lacks 10.52.12.2/32
in_lab touch /etc/ahc-lab/db-up
in_lab sed -i '/^log_journald = true$/d' /etc/anycast-healthchecker.conf
in_lab systemctl reload anycast-healthchecker
wait_for "the peer to learn db again" peer_has 10.52.12.2/32

step "a dead service thread is crit in the journal (the debug build's fault hook)"
in_lab mkdir -p /run/ahc-hooks
in_lab chown healthchecker /run/ahc-hooks
runtime_dropin debug <<'DROPIN'
[Service]
ExecStart=
ExecStart=/usr/local/sbin/anycast-healthchecker-debug $OPTIONS
Environment=ANYCAST_HEALTHCHECKER_TEST_PANIC=/run/ahc-hooks/panic
ReadWritePaths=/run/ahc-hooks
DROPIN
in_lab systemctl restart anycast-healthchecker
in_lab touch /run/ahc-hooks/panic.web.example.com
wait_for "thread_died at -p crit" sh -c "nsenter -t $leader -a journalctl -u anycast-healthchecker --no-pager -o cat -p crit | grep -q 'event=thread_died service=web.example.com'"
drop_runtime_dropins
in_lab systemctl restart anycast-healthchecker
wait_for "web back at the peer" peer_has 10.52.12.1/32

step "systemctl restart keeps the routes (on_exit = keep, the default)"
web_line=$(peer_line 10.52.12.1/32)
db_line=$(peer_line 10.52.12.2/32)
pid=$(unit MainPID)
in_lab systemctl restart anycast-healthchecker
[ "$(unit MainPID)" != "$pid" ] || fail "not restarted"
wait_for "db checked by the new daemon" status_has "2 services: 1 up"
[ "$(peer_line 10.52.12.1/32)" = "$web_line" ] && [ "$(peer_line 10.52.12.2/32)" = "$db_line" ] ||
    fail "a route blinked on restart: $web_line / $db_line -> $(peer_line 10.52.12.1/32) / $(peer_line 10.52.12.2/32)"

step "the watchdog: a daemon stopped with SIGSTOP is killed and restarted; Bird keeps the last file"
runtime_dropin watchdog <<'DROPIN'
[Service]
WatchdogSec=3s
DROPIN
in_lab systemctl restart anycast-healthchecker
pid=$(unit MainPID)
restarts=$(unit NRestarts)
in_lab kill -STOP "$pid"
[ "$(peer_line 10.52.12.1/32)" = "$web_line" ] || fail "web's route changed while the daemon was stopped"
wait_for "systemd's watchdog to fire" sh -c "nsenter -t $leader -a journalctl -u anycast-healthchecker --no-pager | grep -q 'Watchdog timeout (limit 3s)'"
[ "$(peer_line 10.52.12.1/32)" = "$web_line" ] || fail "web's route changed while the watchdog killed the daemon"
wait_for "the restart" sh -c "[ \"\$(nsenter -t $leader -a systemctl show anycast-healthchecker -p NRestarts --value)\" = $((restarts + 1)) ]"
wait_for "the new daemon" sh -c "[ \"\$(nsenter -t $leader -a systemctl show anycast-healthchecker -p ActiveState --value)\" = active ]"
[ "$(unit MainPID)" != "$pid" ] || fail "the stopped daemon still runs"
wait_for "db checked by the new daemon" status_has "2 services: 1 up"
[ "$(peer_line 10.52.12.1/32)" = "$web_line" ] && [ "$(peer_line 10.52.12.2/32)" = "$db_line" ] ||
    fail "a route blinked across the watchdog's restart: $web_line / $db_line -> $(peer_line 10.52.12.1/32) / $(peer_line 10.52.12.2/32)"
drop_runtime_dropins
in_lab systemctl restart anycast-healthchecker

step "systemctl stop with on_exit = withdraw: the peer has lost the routes when stop returns"
for name in web db; do
    in_lab sh -c "echo 'on_exit = withdraw' >> /etc/anycast-healthchecker.d/$name.conf"
done
in_lab systemctl reload anycast-healthchecker
wait_for "the reload" journal_has "0 added, 0 removed"
wait_for "web announced" peer_has 10.52.12.1/32
wait_for "db announced" peer_has 10.52.12.2/32
in_lab systemctl stop anycast-healthchecker
peer_lacks 10.52.12.1/32 && peer_lacks 10.52.12.2/32 || fail "the peer still had a route when stop returned: $(peer show route)"
[ "$(unit Result)" = success ] || fail "stop: $(unit Result)"
in_lab test ! -e /run/anycast-healthchecker/anycast-healthchecker.pid || fail "the pidfile is still there"

step "on_exit = drain longer than TimeoutStopSec: systemd waits, the peer sees degrade then withdraw"
runtime_dropin stop <<'DROPIN'
[Service]
TimeoutStopSec=3s
DROPIN
in_lab sed -i 's/^on_exit = withdraw$/on_exit = drain\ndrain_seconds = 6/' /etc/anycast-healthchecker.d/db.conf
in_lab systemctl start anycast-healthchecker
wait_for "db announced" peer_has 10.52.12.2/32
as_path_is 10.52.12.2/32 65001 || fail "db is not plainly announced: $(peer show route 10.52.12.2/32 all)"
in_lab systemctl stop anycast-healthchecker &
stopping=$!
wait_for "db degraded at the peer (AS path 4 long)" as_path_is 10.52.12.2/32 "65001 65001 65001 65001"
wait_for "db withdrawn at the peer" peer_lacks 10.52.12.2/32
wait "$stopping" || fail "systemctl stop failed"
[ "$(unit ActiveState)" = inactive ] && [ "$(unit Result)" = success ] ||
    fail "after the drain: $(unit ActiveState), $(unit Result)"
journal_has "db.example.com is drained; withdrawing it" || fail "no drained line"

step "a second stop signal cuts the drain short"
in_lab systemctl start anycast-healthchecker
wait_for "db announced" as_path_is 10.52.12.2/32 65001
in_lab systemctl stop anycast-healthchecker &
stopping=$!
wait_for "db degraded at the peer" as_path_is 10.52.12.2/32 "65001 65001 65001 65001"
in_lab systemctl kill --kill-whom=main --signal=SIGTERM anycast-healthchecker
wait "$stopping" || fail "systemctl stop failed"
journal_has "the drain is cut short" || fail "the drain was not cut short"
[ "$(unit Result)" = success ] || fail "after the cut: $(unit Result)"
peer_lacks 10.52.12.2/32 || fail "db still at the peer"
drop_runtime_dropins
in_lab sed -i -e '/^on_exit = /d' -e '/^drain_seconds = /d' /etc/anycast-healthchecker.d/db.conf /etc/anycast-healthchecker.d/web.conf
in_lab systemctl start anycast-healthchecker
wait_for "web announced" peer_has 10.52.12.1/32
wait_for "db announced" peer_has 10.52.12.2/32

step "Bird stopped under the daemon: it runs on, says so once per retry, recovers"
in_lab systemctl stop bird
failures_before=$(count "event=reconfigure_failed")
checks_before=$(count "running /usr/bin/test -e /etc/ahc-lab/db-up")
in_lab rm /etc/ahc-lab/db-up
wait_for "four failed reconfigures" sh -c "[ \$(nsenter -t $leader -a journalctl -u anycast-healthchecker --no-pager -o cat | grep -c 'event=reconfigure_failed') -ge $((failures_before + 4)) ]"
failures=$(($(count "event=reconfigure_failed") - failures_before))
checks=$(($(count "running /usr/bin/test -e /etc/ahc-lab/db-up") - checks_before))
echo "   Bird down: $failures reconfigure_failed lines while db was checked $checks times"
[ $((failures * 2)) -lt "$checks" ] || fail "a failure line per check: $failures failures, $checks checks"
[ "$(unit ActiveState)" = active ] || fail "the daemon stopped with Bird"
journal -p err | has 'reconfiguring BIRD failed with .configure. on /run/bird/bird.ctl' || fail "the failures are not err"
in_lab systemctl start bird
wait_for "event=reconfigure_recovered" journal_has "event=reconfigure_recovered"
wait_for "web at the peer" peer_has 10.52.12.1/32
peer_lacks 10.52.12.2/32 || fail "db at the peer while down"
in_lab touch /etc/ahc-lab/db-up
wait_for "db at the peer" peer_has 10.52.12.2/32
in_lab systemctl restart bird
wait_for "web at the peer after Bird's restart" peer_has 10.52.12.1/32
wait_for "db at the peer after Bird's restart" peer_has 10.52.12.2/32
# Everything an operator pages on is at warning or worse; no per-check line is.
warnings=$(journal -p warning)
for token in "event=down service=web.example.com" "event=reconfigure_failed" "event=thread_died service=web.example.com"; do
    grep -qF "$token" <<<"$warnings" || fail "no $token at -p warning"
done
grep -qF "running /usr/bin/" <<<"$warnings" && fail "a per-check line at -p warning"

step "the runbook's host drain, as shipped: touch the maintenance file, degrade, withdraw, back"
in_lab touch /run/anycast-healthchecker/maintenance
wait_for "db degraded at the peer" as_path_is 10.52.12.2/32 "65001 65001 65001 65001"
wait_for "web degraded at the peer" as_path_is 10.52.12.1/32 "65001 65001 65001 65001"
wait_for "db withdrawn after drain_seconds" peer_lacks 10.52.12.2/32
wait_for "web withdrawn after drain_seconds" peer_lacks 10.52.12.1/32
wait_for "the status line to say maintenance" status_has "2 services: 2 maintenance"
why=$(in_lab anycast-healthchecker --status 10.52.12.1)
grep -q '^web.example.com: maintenance since .*(/run/anycast-healthchecker/maintenance exists); 10.52.12.1/32 withdrawn$' <<<"$why" ||
    fail "--status: $why"
in_lab rm /run/anycast-healthchecker/maintenance
in_lab systemctl kill -s URG anycast-healthchecker
wait_for "db back" as_path_is 10.52.12.2/32 65001
wait_for "web back" as_path_is 10.52.12.1/32 65001

step "the sandbox's score, and a drop-in that gives a check CAP_NET_RAW"
score=$(in_lab systemd-analyze security anycast-healthchecker --no-pager | sed -n 's/.*Overall exposure level for anycast-healthchecker.service: \([0-9.]*\) .*/\1/p')
echo "   systemd-analyze security anycast-healthchecker: $score"
awk "BEGIN { exit !($score <= 2.5) }" || fail "exposure $score is above 2.5"
service_file raw <<'CONF'
[raw.example.com]
check_cmd = /usr/bin/python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)"
check_disabled = false
ip_prefix = 10.52.12.3/32
ip_check_disabled = true
check_interval = 0.5
check_rise = 1
check_fail = 1
CONF
in_lab systemctl reload anycast-healthchecker
wait_for "the raw-socket check to fail under the shipped sandbox" journal_has "event=down service=raw.example.com"
peer_lacks 10.52.12.3/32 || fail "raw announced without CAP_NET_RAW"
in_lab mkdir -p /etc/systemd/system/anycast-healthchecker.service.d
lab_file /etc/systemd/system/anycast-healthchecker.service.d/raw-socket.conf <<'DROPIN'
[Service]
AmbientCapabilities=CAP_NET_RAW
CapabilityBoundingSet=CAP_NET_RAW
DROPIN
in_lab systemctl daemon-reload
in_lab systemctl restart anycast-healthchecker
wait_for "the raw-socket check to pass with the drop-in" peer_has 10.52.12.3/32
in_lab rm -r /etc/anycast-healthchecker.d/raw.conf /etc/systemd/system/anycast-healthchecker.service.d
in_lab systemctl daemon-reload
in_lab systemctl reload anycast-healthchecker

step "power off and boot again: tmpfiles, then Bird with the dummies, then the daemon"
power_off
boot_started=$SECONDS
boot_clock=$(date +%s.%N)
boot
wait_for "web at the peer after the boot" peer_has 10.52.12.1/32
boot_to_route=$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $boot_clock }")
echo "   boot to web's route at the peer: ${boot_to_route}s"
began() { in_lab systemctl show "$1" -p InactiveExitTimestampMonotonic --value; }
ready() { in_lab systemctl show "$1" -p ActiveEnterTimestampMonotonic --value; }
[ "$(ready systemd-tmpfiles-setup.service)" -lt "$(began bird.service)" ] || fail "Bird started before tmpfiles ran"
[ "$(ready bird.service)" -le "$(began anycast-healthchecker.service)" ] || fail "the daemon started before Bird"
in_lab journalctl -b -u anycast-healthchecker --no-pager -o cat | has 'announcing 10.52.12.1/32 for web.example.com' ||
    fail "web was still in the prefix file at boot (tmpfiles did not reset it)"
[ "$(in_lab stat -c %U /run/anycast-healthchecker)" = healthchecker ] || fail "no /run/anycast-healthchecker after the boot"

step "rpm -U to release 2: the daemon restarts, web's route does not blink, the edited config stays"
if [ -n "$rebuild" ]; then
    wait "$rebuild" || { cat "$lab/rebuild.log" >&2; fail "building release 2 failed"; }
    rebuild=
    rpm_2=$(find "$topdir/RPMS" -name 'anycast-healthchecker-0*-2.*.rpm' | head -n 1)
fi
cp "$rpm_2" "$root/var/tmp/ahc-2.rpm"
wait_for "db at the peer" peer_has 10.52.12.2/32
in_lab sh -c 'echo "# edited by the operator" >> /etc/anycast-healthchecker.conf'
web_line=$(peer_line 10.52.12.1/32)
pid=$(unit MainPID)
in_lab rpm -U --nodeps /var/tmp/ahc-2.rpm 2>"$lab/rpm.err" || { cat "$lab/rpm.err" >&2; fail "rpm -U"; }
in_lab rpm -q anycast-healthchecker | has -- '-2\.' || fail "not upgraded: $(in_lab rpm -q anycast-healthchecker)"
[ "$(unit MainPID)" != "$pid" ] && [ "$(unit ActiveState)" = active ] || fail "the daemon was not restarted"
wait_for "db checked by the new daemon" status_has "up"
[ "$(peer_line 10.52.12.1/32)" = "$web_line" ] || fail "web's route blinked on the upgrade: $web_line -> $(peer_line 10.52.12.1/32)"
in_lab grep -q '^# edited by the operator$' /etc/anycast-healthchecker.conf || fail "the edited config was replaced"

step "rpm -e: stopped and disabled, the edited config kept, no process or lock left"
lock_inode=$(in_lab stat -c %i /run/anycast-healthchecker/anycast-healthchecker.pid.lock)
in_lab rpm -e --nodeps anycast-healthchecker 2>"$lab/rpm.err" || { cat "$lab/rpm.err" >&2; fail "rpm -e"; }
in_lab systemctl is-active anycast-healthchecker >/dev/null && fail "still active"
in_lab test ! -e /usr/lib/systemd/system/anycast-healthchecker.service || fail "the unit file is still there"
in_lab test ! -e /etc/systemd/system/multi-user.target.wants/anycast-healthchecker.service || fail "still enabled"
in_lab grep -q '^# edited by the operator$' /etc/anycast-healthchecker.conf.rpmsave || fail "the edited config is gone"
[ -z "$(in_lab pgrep -u healthchecker || true)" ] || fail "processes of healthchecker remain: $(in_lab pgrep -a -u healthchecker)"
in_lab grep -q "FLOCK.*:$lock_inode " /proc/locks && fail "the pidfile lock is still held"
in_lab grep -q '@anycast-healthchecker$' /proc/net/unix && fail "the instance lock is still bound"
peer_has 10.52.12.1/32 || fail "web was withdrawn on erase (on_exit = keep)"

step "switching from the Python package of the same name: rpm -U replaces it in one transaction"
# Stand-ins of the Python anycast-healthchecker 0.9.10 as distributions package it:
# its name, version, file list and scriptlets; its daemon holds upstream's lock.
build_standin() {
    local name=$1 dir=$lab/standin
    local files=$dir/files
    mkdir -p "$dir/SPECS" "$files/usr/bin" "$files/usr/lib/systemd/system" "$files/etc/sysconfig" \
        "$files/etc/anycast-healthchecker.d" "$files/usr/lib/python3.9/site-packages/anycast_healthchecker"
    cat >"$files/usr/bin/anycast-healthchecker" <<'DAEMON'
#!/usr/bin/python3
import socket, time
lock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
lock.bind("\0anycast-healthchecker")
time.sleep(1e9)
DAEMON
    chmod 0755 "$files/usr/bin/anycast-healthchecker"
    # upstream's contrib unit
    cat >"$files/usr/lib/systemd/system/anycast-healthchecker.service" <<'UNIT'
[Unit]
Description=anycast-healthchecker
After=network.target
[Service]
Type=simple
User=healthchecker
EnvironmentFile=/etc/sysconfig/anycast-healthchecker
ExecStart=/usr/bin/anycast-healthchecker $OPTIONS
Restart=on-failure
[Install]
WantedBy=multi-user.target
UNIT
    echo 'OPTIONS="-f /etc/anycast-healthchecker.conf -d /etc/anycast-healthchecker.d"' \
        >"$files/etc/sysconfig/anycast-healthchecker"
    printf '[daemon]\npidfile = /var/run/anycast-healthchecker/anycast-healthchecker.pid\n' \
        >"$files/etc/anycast-healthchecker.conf"
    touch "$files/usr/lib/python3.9/site-packages/anycast_healthchecker/__init__.py"
    cat >"$dir/SPECS/$name.spec" <<'SPEC'
Name: %{standin}
Version: 0.9.10
Release: 1
Summary: stand-in of the Python anycast-healthchecker
License: Apache-2.0
BuildArch: noarch
%description
The Python anycast-healthchecker's name, version, files and scriptlets, for a test.
%install
cp -a %{standin_files}/. %{buildroot}/
%preun
if [ $1 -eq 0 ]; then systemctl --no-reload disable --now anycast-healthchecker.service >/dev/null 2>&1 || :; fi
%postun
if [ $1 -ge 1 ]; then systemctl try-restart anycast-healthchecker.service >/dev/null 2>&1 || :; fi
%files
/usr/bin/anycast-healthchecker
/usr/lib/systemd/system/anycast-healthchecker.service
%config(noreplace) /etc/sysconfig/anycast-healthchecker
%config(noreplace) /etc/anycast-healthchecker.conf
%dir /etc/anycast-healthchecker.d
/usr/lib/python3.9/site-packages/anycast_healthchecker
SPEC
    rpmbuild --define "_topdir $dir" --define "standin $name" --define "standin_files $files" --nodeps \
        -bb "$dir/SPECS/$name.spec" >"$dir/$name.log" 2>&1 || { cat "$dir/$name.log" >&2; fail "building the stand-in $name"; }
    cp "$dir/RPMS/noarch/$name-0.9.10-1.noarch.rpm" "$root/var/tmp/"
}
build_standin anycast-healthchecker
build_standin python3-anycast-healthchecker
# The host as the Python program left it: its package, the operator's edited config
# (here one that suits this daemon: Bird over its control socket) and service files.
in_lab rm -rf /etc/systemd/system/anycast-healthchecker.service.d /etc/anycast-healthchecker.conf.rpmsave
in_lab rpm -i --nodeps /var/tmp/anycast-healthchecker-0.9.10-1.noarch.rpm 2>"$lab/rpm.err" || { cat "$lab/rpm.err" >&2; fail "rpm -i the stand-in"; }
cp "$top/conf.d/anycast-healthchecker.conf" "$root/var/tmp/operator.conf"
in_lab sh -c 'cat /var/tmp/operator.conf > /etc/anycast-healthchecker.conf && echo "# the operator was here" >> /etc/anycast-healthchecker.conf'
in_lab systemctl daemon-reload
in_lab systemctl enable --now anycast-healthchecker 2>/dev/null
wait_for "the Python stand-in to hold upstream's lock" in_lab grep -q '@anycast-healthchecker$' /proc/net/unix
in_lab rpm -U --nodeps /var/tmp/ahc-1.rpm >"$lab/swap.out" 2>&1 || { cat "$lab/swap.out" >&2; fail "rpm -U over the stand-in"; }
sed 's/^/   | /' "$lab/swap.out" | grep -v 'should not be used\|assuming you know' || true
grep -q 'replaced the Python anycast-healthchecker' "$lab/swap.out" || fail "the switch was not said"
grep -q 'kept your /etc/anycast-healthchecker.conf; the package.s is /etc/anycast-healthchecker.conf.rpmnew' "$lab/swap.out" ||
    fail "the kept config and the .rpmnew were not said"
grep -q 'restarted anycast-healthchecker.service' "$lab/swap.out" || fail "not restarted"
[ "$(in_lab anycast-healthchecker -v)" = 0.1.0 ] || fail "the binary is not ours"
in_lab test ! -e /usr/lib/python3.9/site-packages/anycast_healthchecker || fail "the Python files are left"
in_lab grep -q '^# the operator was here$' /etc/anycast-healthchecker.conf || fail "the operator's config was replaced"
in_lab test -e /etc/anycast-healthchecker.conf.rpmnew || fail "no .rpmnew"
in_lab test -e /etc/anycast-healthchecker.d/web.conf || fail "the operator's service file is gone"
[ "$(unit Type)" = notify ] && [ "$(unit ActiveState)" = active ] || fail "not our unit, running: $(unit Type) $(unit ActiveState)"
[ "$(in_lab readlink "/proc/$(unit MainPID)/exe")" = /usr/bin/anycast-healthchecker ] || fail "the stand-in still runs"
[ "$(in_lab systemctl is-enabled anycast-healthchecker)" = enabled ] || fail "not enabled"
wait_for "web at the peer, from the new daemon" peer_has 10.52.12.1/32

step "switching from python3-anycast-healthchecker (Obsoletes), its unit copied to /etc, upstream's sudo birdc"
in_lab rpm -e --nodeps anycast-healthchecker 2>"$lab/rpm.err" || { cat "$lab/rpm.err" >&2; fail "rpm -e"; }
in_lab rm -f /etc/anycast-healthchecker.conf.rpmsave /etc/anycast-healthchecker.conf.rpmnew
in_lab rpm -i --nodeps /var/tmp/python3-anycast-healthchecker-0.9.10-1.noarch.rpm 2>"$lab/rpm.err" || { cat "$lab/rpm.err" >&2; fail "rpm -i the stand-in"; }
# Upstream's way of reloading Bird (sudo birdc configure), and the old unit copied to
# /etc/systemd/system, as operators did to edit it.
in_lab sh -c 'grep -v "_control_socket" /var/tmp/operator.conf > /etc/anycast-healthchecker.conf && \
    printf "bird_reconfigure_cmd = sudo /usr/sbin/birdc configure\nbird6_reconfigure_cmd = sudo /usr/sbin/birdc configure\n# the operator was here\n" >> /etc/anycast-healthchecker.conf'
cp "$top/conf.d/bird/sudoers" "$root/var/tmp/ahc-sudoers"
in_lab install -m 0440 /var/tmp/ahc-sudoers /etc/sudoers.d/anycast-healthchecker
in_lab cp /usr/lib/systemd/system/anycast-healthchecker.service /etc/systemd/system/
in_lab systemctl daemon-reload
in_lab systemctl enable --now anycast-healthchecker 2>/dev/null
wait_for "the Python stand-in to hold upstream's lock" in_lab grep -q '@anycast-healthchecker$' /proc/net/unix
in_lab rpm -U --nodeps /var/tmp/ahc-1.rpm >"$lab/swap.out" 2>&1 || { cat "$lab/swap.out" >&2; fail "rpm -U over python3-anycast-healthchecker"; }
sed 's/^/   | /' "$lab/swap.out" | grep -v 'should not be used\|assuming you know' || true
in_lab rpm -q python3-anycast-healthchecker >/dev/null && fail "python3-anycast-healthchecker was not replaced"
in_lab test ! -e /usr/lib/python3.9/site-packages/anycast_healthchecker || fail "the Python files are left"
grep -q '/etc/systemd/system/anycast-healthchecker.service overrides the package.s unit' "$lab/swap.out" ||
    fail "the overriding unit was not said"
in_lab grep -q '^# the operator was here$' /etc/anycast-healthchecker.conf || fail "the operator's config was replaced"
[ "$(in_lab systemctl is-enabled anycast-healthchecker)" = enabled ] || fail "the Python package's %preun left it disabled"
# It runs (this daemon, under the old unit that overrides ours: no sandbox, so sudo works).
[ "$(unit ActiveState)" = active ] && [ "$(unit Type)" = simple ] || fail "not running under the old unit"
[ "$(in_lab readlink "/proc/$(unit MainPID)/exe")" = /usr/bin/anycast-healthchecker ] || fail "the stand-in still runs"

step "the README's steps: the package's unit; -c says sudo cannot work there; the shipped sudo drop-in, for real"
in_lab systemctl revert anycast-healthchecker >/dev/null
if in_lab anycast-healthchecker -c 2>"$lab/check.err"; then
    fail "-c accepted sudo birdc under the package's unit"
fi
grep -q 'bird_reconfigure_cmd: runs sudo, which gains privileges, but .* NoNewPrivileges=yes' "$lab/check.err" ||
    fail "-c did not say why: $(cat "$lab/check.err")"
echo "   -c: $(grep -v ': warning: ' "$lab/check.err" | cut -c1-160)..."
in_lab mkdir -p /etc/systemd/system/anycast-healthchecker.service.d
in_lab cp /usr/share/doc/anycast-healthchecker/examples/systemd/sudo.conf /etc/systemd/system/anycast-healthchecker.service.d/
in_lab systemctl daemon-reload
in_lab anycast-healthchecker -c >/dev/null || fail "-c still refuses sudo with the drop-in"
in_lab systemctl restart anycast-healthchecker
[ "$(unit Type)" = notify ] && [ "$(unit ActiveState)" = active ] || fail "not our unit, running"
in_lab rm /etc/ahc-lab/db-up
wait_for "db withdrawn through sudo birdc configure" peer_lacks 10.52.12.2/32
in_lab touch /etc/ahc-lab/db-up
wait_for "db announced through sudo birdc configure" peer_has 10.52.12.2/32
journal_has "reconfigured BIRD daemon with sudo /usr/sbin/birdc configure" || fail "Bird was not reloaded through sudo"

step "done"
echo "systemd test passed in $((SECONDS - started_at))s"
