//! What a reload (SIGHUP) changes, decided from the old and the new configuration alone:
//! which services keep their thread and state, which restart, stop or start, and which
//! daemon-level changes apply now or need a restart. `mod.rs` carries it out.

use crate::config::Config;

/// What to do with each service and with the daemon's own settings.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReloadPlan {
    /// Unchanged: thread, state and prefixes stay as they are (no new rise, no flap).
    pub keep: Vec<String>,
    /// Only timing, rise/fail or damping changed: the thread takes the new settings and
    /// keeps its state, counters and damping penalty.
    pub retune: Vec<String>,
    /// Changed: the old thread stops; a new one starts with a new generation, so late
    /// events of the old one are ignored. Its prefixes stay until the new check decides.
    pub restart: Vec<String>,
    /// Removed: the thread stops and its prefixes are withdrawn (the writer drops
    /// prefixes no service owns).
    pub stop: Vec<String>,
    /// New: a thread starts (none for a disabled service: it is set once).
    pub start: Vec<String>,
    /// Daemon-level changes that apply now.
    pub apply: Vec<DaemonChange>,
    /// Daemon-level keys whose change needs a restart; the old value stays in force.
    pub needs_restart: Vec<&'static str>,
}

/// A daemon-level change a reload applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DaemonChange {
    /// Log destinations, formats or level: the logger is set up anew.
    Logging,
    /// The Prometheus exporter: restarted with the new settings.
    Prometheus,
    /// The Bird files, variables, dummies, reconfigure or an IP version turned on or
    /// off: the writer rewrites what changed and reloads Bird.
    Bird,
}

/// The plan that takes the daemon from `old` to `new`.
pub(crate) fn plan(old: &Config, new: &Config) -> ReloadPlan {
    let mut plan = ReloadPlan::default();
    for service in &new.services {
        let bucket = match old.service(&service.name) {
            Some(before) if before == service => &mut plan.keep,
            Some(before) if before.retunable_to(service) => &mut plan.retune,
            Some(_) => &mut plan.restart,
            None => &mut plan.start,
        };
        bucket.push(service.name.clone());
    }
    plan.stop =
        old.services.iter().filter(|s| new.service(&s.name).is_none()).map(|s| s.name.clone()).collect();
    let (before, after) = (&old.daemon, &new.daemon);
    if before.log != after.log {
        plan.apply.push(DaemonChange::Logging);
    }
    if before.prometheus != after.prometheus {
        plan.apply.push(DaemonChange::Prometheus);
    }
    if before.bird != after.bird
        || before.bird_reconfigure_timeout != after.bird_reconfigure_timeout
        || before.purge_ip_prefixes != after.purge_ip_prefixes
    {
        plan.apply.push(DaemonChange::Bird);
    }
    if before.pidfile != after.pidfile {
        plan.needs_restart.push("pidfile");
    }
    if before.instance_lock != after.instance_lock {
        plan.needs_restart.push("instance_lock");
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A configuration: a base `[daemon]` with `daemon_extra` read after it (a later
    /// file wins key by key), and the service sections.
    fn config(daemon_extra: &str, services: &str) -> Config {
        let base = "[DEFAULT]\ncheck_disabled = false\ncheck_cmd = /bin/true\n\
                    [daemon]\npidfile = /tmp/x.pid\nbird_conf = /tmp/a.conf\nbird6_conf = /tmp/b.conf\n\
                    bird_reconfigure_cmd = /bin/true\nbird6_reconfigure_cmd = /bin/true\n";
        let extra = format!("[daemon]\n{daemon_extra}\n{services}");
        crate::config::load_texts(&[(Path::new("m.conf"), base), (Path::new("x.conf"), &extra)])
            .unwrap()
            .config
    }

    /// (old services, new services, keep, restart, stop, start)
    type ServiceCase<'a> = (&'a str, &'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str], &'a [&'a str]);

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_service_is_kept_restarted_stopped_or_started() {
        let web = "[web]\nip_prefix = 10.0.0.1\n";
        let dns = "[dns]\nip_prefix = 10.0.0.2\n";
        let cases: &[ServiceCase] = &[
            (web, web, &["web"], &[], &[], &[]),
            // A new command restarts the check (timing alone retunes: below).
            (web, "[web]\nip_prefix = 10.0.0.1\ncheck_cmd = /bin/false\n", &[], &["web"], &[], &[]),
            // Renamed: the old name stops (its prefix withdrawn), the new one starts.
            (web, "[www]\nip_prefix = 10.0.0.1\n", &[], &[], &["web"], &["www"]),
            // A prefix moved from dns to web: both changed.
            (
                &format!("{web}{dns}"),
                "[web]\nip_prefix = 10.0.0.1, 10.0.0.2\n[dns]\nip_prefix = 10.0.0.3\n",
                &[],
                &["web", "dns"],
                &[],
                &[],
            ),
            (web, &format!("{web}{dns}"), &["web"], &[], &[], &["dns"]),
            (&format!("{web}{dns}"), dns, &["dns"], &[], &["web"], &[]),
            // Disabled now: a changed service (its thread stops; on_disabled applies).
            (web, "[web]\nip_prefix = 10.0.0.1\ncheck_disabled = true\n", &[], &["web"], &[], &[]),
        ];
        for (old, new, keep, restart, stop, start) in cases {
            let got = plan(&config("", old), &config("", new));
            assert_eq!(got.keep, names(keep), "{old:?} -> {new:?}");
            assert_eq!(got.restart, names(restart), "{old:?} -> {new:?}");
            assert_eq!(got.stop, names(stop), "{old:?} -> {new:?}");
            assert_eq!(got.start, names(start), "{old:?} -> {new:?}");
            assert!(got.apply.is_empty() && got.needs_restart.is_empty(), "{got:?}");
        }
    }

    #[test]
    fn timing_rise_fail_and_damping_changes_retune_and_keep_the_state() {
        let web = "[web]\nip_prefix = 10.0.0.1\n";
        for new in [
            "[web]\nip_prefix = 10.0.0.1\ncheck_interval = 3\ncheck_timeout = 1\n",
            "[web]\nip_prefix = 10.0.0.1\ncheck_rise = 5\ncheck_fail = 1\n",
            "[web]\nip_prefix = 10.0.0.1\ncheck_fast_interval = 1\n",
            "[web]\nip_prefix = 10.0.0.1\ndamping = true\ndamping_half_life = 60\n",
        ] {
            let got = plan(&config("", web), &config("", new));
            assert_eq!(got.retune, names(&["web"]), "{new:?}");
            assert!(got.keep.is_empty() && got.restart.is_empty(), "{new:?}: {got:?}");
        }
        // Anything else restarts: here the prefix.
        let got = plan(&config("", web), &config("", "[web]\nip_prefix = 10.0.0.9\ncheck_rise = 5\n"));
        assert_eq!((got.retune.len(), got.restart), (0, names(&["web"])));
    }

    #[test]
    fn daemon_changes_apply_now_or_wait_for_a_restart() {
        let web = "[web]\nip_prefix = 10.0.0.1\n";
        // (old [daemon] extra, new [daemon] extra, applied now, needs restart)
        let cases: &[(&str, &str, &[DaemonChange], &[&str])] = &[
            ("", "ipv6 = true", &[DaemonChange::Bird], &[]),
            ("", "bird_variable = OTHER", &[DaemonChange::Bird], &[]),
            ("", "bird_reconfigure_timeout = 5", &[DaemonChange::Bird], &[]),
            ("", "loglevel = info", &[DaemonChange::Logging], &[]),
            ("", "prometheus_exporter_interval = 5", &[DaemonChange::Prometheus], &[]),
            ("", "pidfile = /tmp/y.pid", &[], &["pidfile"]),
            ("", "instance_lock = other", &[], &["instance_lock"]),
            ("loglevel = info", "loglevel = info", &[], &[]),
        ];
        for (old, new, apply, restart) in cases {
            let got = plan(&config(old, web), &config(new, web));
            assert_eq!(got.apply, apply.to_vec(), "{old:?} -> {new:?}");
            assert_eq!(got.needs_restart, restart.to_vec(), "{old:?} -> {new:?}");
            assert_eq!(got.keep, names(&["web"]), "a daemon-level change keeps the services");
        }
    }
}
