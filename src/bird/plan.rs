//! The writer's decisions, as pure functions over values: what a prefix file found at
//! start must become, what a batch of events makes each file list, what a change
//! requires (a file write, the daemon-level reconfigure, a service's custom command),
//! and which reconfigures may start now. No I/O and no clock (callers pass `now`), so
//! each is unit-tested with tables below; `writer.rs` applies the decisions.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::file::Parsed;
use crate::config::prefix::{IpPrefix, IpVersion};
use crate::config::{BirdSettings, Reconfigure};
use crate::sys::argv::Argv;

/// The first wait before retrying a failed write or reconfigure; it doubles up to
/// [`RETRY_CAP`].
pub(crate) const RETRY_FIRST: Duration = Duration::from_millis(500);
pub(crate) const RETRY_CAP: Duration = Duration::from_secs(8);

/// The wait after one more failure.
pub(crate) fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(RETRY_CAP)
}

/// What a service wants for its prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Advertise,
    /// Advertised, and in the degraded set (less preferred) where the file has one.
    AdvertiseDegraded,
    /// Moves prefixes that are advertised now into the degraded set (a drain); others
    /// stay withdrawn.
    Drain,
    Withdraw,
}

impl Action {
    /// The word a custom reconfigure command gets.
    pub(crate) fn direction(self) -> &'static str {
        match self {
            Action::Advertise | Action::AdvertiseDegraded | Action::Drain => "up",
            Action::Withdraw => "down",
        }
    }
}

/// A service's decision, sent by its thread. `generation` tells a restarted service's
/// events from its predecessor's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEvent {
    pub service: String,
    pub generation: u64,
    pub action: Action,
}

/// A service's own reconfigure command, run with `up`/`down` instead of the daemon's.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomCommand {
    pub argv: Argv,
    pub timeout: Duration,
}

/// What the writer knows of one service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRoutes {
    pub generation: u64,
    pub prefixes: Vec<IpPrefix>,
    pub custom: Option<CustomCommand>,
}

/// Everything the writer is told by the daemon: the Bird settings and the services.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    pub bird: Vec<BirdSettings>,
    pub reconfigure_timeout: Duration,
    pub purge_ip_prefixes: bool,
    pub services: BTreeMap<String, ServiceRoutes>,
    /// Which service owns each prefix: looked up for every prefix of every batch.
    owners: HashMap<IpPrefix, String>,
}

impl Routing {
    pub fn new(
        bird: Vec<BirdSettings>,
        reconfigure_timeout: Duration,
        purge_ip_prefixes: bool,
        services: BTreeMap<String, ServiceRoutes>,
    ) -> Routing {
        let owners = services
            .iter()
            .flat_map(|(name, routes)| routes.prefixes.iter().map(move |prefix| (*prefix, name.clone())))
            .collect();
        Routing { bird, reconfigure_timeout, purge_ip_prefixes, services, owners }
    }

    /// The service that owns `prefix`, if any.
    pub(crate) fn owner(&self, prefix: &IpPrefix) -> Option<(&String, &ServiceRoutes)> {
        self.owners.get(prefix).and_then(|name| self.services.get_key_value(name))
    }
}

/// What a prefix file found at start must become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Startup {
    /// The prefixes to keep listing, dummy excluded, in file order.
    pub advertised: Vec<IpPrefix>,
    /// The file must be rewritten (and Bird told) before it is right.
    pub fix_needed: bool,
    /// What was wrong, one line each, for the log.
    pub notes: Vec<String>,
}

/// Upstream's start-up pass over one file (`path` only names it in notes): unreadable
/// words are dropped, a wrong or missing variable name and a missing dummy are fixed,
/// prefixes of the other version are dropped, and prefixes no service has are kept (a
/// route stays until its check decides) unless `purge_ip_prefixes`.
pub(crate) fn startup(parsed: Parsed, settings: &BirdSettings, routing: &Routing, path: &str) -> Startup {
    let mut notes = Vec::new();
    let mut fix_needed = false;
    for unreadable in &parsed.unreadable {
        notes.push(format!(
            "{path}:{}: cannot read {:?} as an IP prefix; it will not be kept",
            unreadable.line, unreadable.text
        ));
        fix_needed = true;
    }
    match &parsed.variable {
        None => {
            notes.push(format!("failed to find variable name in {path}, going to add it"));
            fix_needed = true;
        }
        Some(name) if *name != settings.variable => {
            notes.push(format!(
                "found incorrect variable name {name} in {path}, going to use {}",
                settings.variable
            ));
            fix_needed = true;
        }
        Some(_) => {}
    }
    let dummy = settings.dummy_ip_prefix;
    if let Some(dummy) = dummy.filter(|d| !parsed.prefixes.contains(d)) {
        notes.push(format!("dummy IP prefix {dummy} is missing from bird configuration {path}, adding it"));
        fix_needed = true;
    }
    let mut advertised: Vec<IpPrefix> = parsed
        .prefixes
        .into_iter()
        .filter(|p| Some(*p) != dummy && p.version() == settings.version)
        .collect();
    let foreign: Vec<String> =
        advertised.iter().filter(|p| routing.owner(p).is_none()).map(ToString::to_string).collect();
    if !foreign.is_empty() {
        if routing.purge_ip_prefixes {
            notes.push(format!(
                "removing IP prefix(es) {} from {path} because they don't have a service check configured",
                foreign.join(",")
            ));
            advertised.retain(|p| routing.owner(p).is_some());
            fix_needed = true;
        } else {
            notes.push(format!(
                "found IP prefixes {} in {path} without a service check configured",
                foreign.join(",")
            ));
        }
    }
    Startup { advertised, fix_needed, notes }
}

/// Folds `event` into `list`, the desired list of IP version `version`, and into
/// `degraded`, its degraded set when the file has one (None: degraded is advertised).
/// False when the event is stale (its service was removed, or replaced by a newer
/// instance).
pub(crate) fn fold(
    list: &mut Vec<IpPrefix>,
    mut degraded: Option<&mut Vec<IpPrefix>>,
    version: IpVersion,
    routing: &Routing,
    event: &ServiceEvent,
) -> bool {
    let Some(routes) = routing.services.get(&event.service) else { return false };
    if routes.generation != event.generation {
        return false;
    }
    for prefix in routes.prefixes.iter().filter(|p| p.version() == version) {
        let (advertise, degrade) = match event.action {
            Action::Advertise => (Some(true), Some(false)),
            Action::AdvertiseDegraded => (Some(true), Some(true)),
            Action::Drain => (None, list.contains(prefix).then_some(true)),
            Action::Withdraw => (Some(false), Some(false)),
        };
        match advertise {
            Some(true) if !list.contains(prefix) => list.push(*prefix),
            Some(false) => list.retain(|p| p != prefix),
            _ => {}
        }
        if let (Some(set), Some(degrade)) = (degraded.as_deref_mut(), degrade) {
            if degrade && !set.contains(prefix) {
                set.push(*prefix);
            } else if !degrade {
                set.retain(|p| p != prefix);
            }
        }
    }
    true
}

/// Prefixes entering (true) or leaving (false) the degraded set.
pub(crate) fn degraded_changes(listed: &[IpPrefix], wanted: &[IpPrefix]) -> Vec<(IpPrefix, bool)> {
    let entering = wanted.iter().filter(|p| !listed.contains(p)).map(|p| (*p, true));
    entering.chain(listed.iter().filter(|p| !wanted.contains(p)).map(|p| (*p, false))).collect()
}

/// One prefix entering or leaving a file, and the service it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrefixChange {
    pub prefix: IpPrefix,
    pub action: Action,
    pub owner: Option<String>,
}

/// What committing a file's desired list requires.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Commit {
    pub changes: Vec<PrefixChange>,
    /// The daemon-level reconfigure must run (a change of a service without a custom
    /// command, or of a prefix no service owns).
    pub reload_bird: bool,
    /// Services whose custom command must run, with the direction.
    pub custom: Vec<(String, Action)>,
}

/// The difference between what a file lists and what it should list. A flap that went
/// out and back within one batch is no change at all.
pub(crate) fn commit(listed: &[IpPrefix], wanted: &[IpPrefix], routing: &Routing) -> Commit {
    let added = wanted.iter().filter(|p| !listed.contains(p)).map(|p| (*p, Action::Advertise));
    let removed = listed.iter().filter(|p| !wanted.contains(p)).map(|p| (*p, Action::Withdraw));
    let mut commit = Commit::default();
    for (prefix, action) in added.chain(removed) {
        let owner = routing.owner(&prefix);
        match owner {
            Some((service, routes)) if routes.custom.is_some() => {
                commit.custom.retain(|(s, _)| s != service);
                commit.custom.push((service.clone(), action));
            }
            _ => commit.reload_bird = true,
        }
        commit.changes.push(PrefixChange {
            prefix,
            action,
            owner: owner.map(|(service, _)| service.clone()),
        });
    }
    commit
}

/// What a reconfigure goes through: one worker each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A Bird daemon, by its command or control socket (shared by both versions when
    /// they name the same one).
    Bird(Reconfigure),
    /// One service's `custom_bird_reconfigure_cmd`.
    Custom(String),
}

/// A prefix file as far as reconfiguring is concerned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileView<'a> {
    pub version: IpVersion,
    pub reconfigure: &'a Reconfigure,
    /// The file on disk lists what it should.
    pub file_current: bool,
    /// Bird has loaded the file as it is on disk.
    pub bird_current: bool,
}

/// A target's worker as far as starting a job is concerned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LaneView<'a> {
    pub target: &'a Target,
    pub running: bool,
    pub retry_at: Option<Instant>,
    /// The earliest start of its next job (see [`configure_not_before`]).
    pub not_before: Option<Instant>,
}

/// When the next `configure` of a Bird may start, given when the last one finished and
/// how long it took: Bird rests as long as it worked. There is no fixed spacing: a
/// change that finds its Bird idle and rested goes at once, and one that comes while a
/// `configure` runs waits for it and goes with everything else decided meanwhile
/// (never two in flight to one Bird), so Bird's own time paces a storm. The rest
/// bounds Bird's busy share to half and delays the final state of a storm by at most
/// one `configure`'s time; against no rest it halved the `configure`s of a storm at the
/// same time to the peer (`cargo bench --bench storm`, benches/RESULTS.md).
pub(crate) fn configure_not_before(finished: Instant, took: Duration) -> Instant {
    finished + took
}

/// Every target the routing can reconfigure through: each distinct Bird once (a Bird 2
/// or 3 that serves both versions through one command or socket is one target), then
/// each service's custom command.
pub(crate) fn targets(files: &[FileView], routing: &Routing) -> Vec<Target> {
    let mut targets: Vec<Target> = Vec::new();
    for file in files {
        let target = Target::Bird(file.reconfigure.clone());
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    targets.extend(
        routing
            .services
            .iter()
            .filter(|(_, routes)| routes.custom.is_some())
            .map(|(s, _)| Target::Custom(s.clone())),
    );
    targets
}

/// Whether `target` has something its Bird lacks that is ready to send: a written
/// file Bird has not loaded, or a custom command whose service's files are written.
pub(crate) fn needs_run(
    target: &Target,
    files: &[FileView],
    custom_pending: &BTreeMap<String, Action>,
    routing: &Routing,
) -> bool {
    match target {
        Target::Bird(how) => files.iter().any(|f| f.reconfigure == how && f.file_current && !f.bird_current),
        Target::Custom(service) => {
            custom_pending.contains_key(service)
                && routing.services.get(service).is_some_and(|routes| {
                    routes
                        .prefixes
                        .iter()
                        .all(|p| files.iter().any(|f| f.version == p.version() && f.file_current))
                })
        }
    }
}

/// The targets whose job may start now: they need a run, none is running (one
/// `configure` at a time per Bird), any retry is due and any rest after the last one
/// (see [`configure_not_before`]) is over. A target with no lane yet has never run.
pub(crate) fn due(
    files: &[FileView],
    custom_pending: &BTreeMap<String, Action>,
    routing: &Routing,
    lanes: &[LaneView],
    now: Instant,
) -> Vec<Target> {
    targets(files, routing)
        .into_iter()
        .filter(|target| needs_run(target, files, custom_pending, routing))
        .filter(|target| match lanes.iter().find(|lane| lane.target == target) {
            Some(lane) => {
                !lane.running
                    && lane.retry_at.map_or(true, |at| at <= now)
                    && lane.not_before.map_or(true, |at| at <= now)
            }
            None => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn prefix(text: &str) -> IpPrefix {
        text.parse().unwrap()
    }

    fn prefixes(texts: &[&str]) -> Vec<IpPrefix> {
        texts.iter().map(|t| prefix(t)).collect()
    }

    fn bird(version: IpVersion, reconfigure: &str, dummy: Option<&str>) -> BirdSettings {
        BirdSettings {
            version,
            conf: PathBuf::from(format!("/b/{version}.conf")),
            degraded_variable: None,
            degraded_conf: None,
            variable: if version == IpVersion::V4 { "ACAST_PS_ADVERTISE" } else { "ACAST6_PS_ADVERTISE" }
                .into(),
            reconfigure: Reconfigure::Socket(PathBuf::from(reconfigure)),
            dummy_ip_prefix: dummy.map(prefix),
            keep_changes: false,
            changes_counter: 1,
        }
    }

    /// `web` (v4), `dual` (v4 and v6), `custom` (v4, with its own command).
    fn routing(purge: bool) -> Routing {
        let service = |generation: u64, texts: &[&str], custom: bool| ServiceRoutes {
            generation,
            prefixes: prefixes(texts),
            custom: custom.then(|| CustomCommand {
                argv: Argv::parse("/bin/true").unwrap(),
                timeout: Duration::from_secs(1),
            }),
        };
        let services = BTreeMap::from([
            ("web".to_string(), service(1, &["10.0.0.1/32"], false)),
            ("dual".to_string(), service(2, &["10.0.0.2/32", "fd00::2/128"], false)),
            ("custom".to_string(), service(3, &["10.0.0.3/32"], true)),
            ("custom2".to_string(), service(4, &["10.0.0.4/32"], true)),
        ]);
        let birds = vec![
            bird(IpVersion::V4, "/run/a.ctl", Some("10.189.200.255/32")),
            bird(IpVersion::V6, "/run/a.ctl", None),
        ];
        Routing::new(birds, Duration::from_secs(2), purge, services)
    }

    fn event(service: &str, generation: u64, action: Action) -> ServiceEvent {
        ServiceEvent { service: service.into(), generation, action }
    }

    /// (events as service, generation, action; the v4 list after them; the v6 list)
    type FoldCase =
        (&'static [(&'static str, u64, Action)], &'static [&'static str], &'static [&'static str]);

    /// (listed, wanted, changes, reload the daemon-level Bird?, custom commands)
    type CommitCase = (
        &'static [&'static str],
        &'static [&'static str],
        &'static [(&'static str, Action)],
        bool,
        &'static [(&'static str, Action)],
    );

    #[test]
    fn events_fold_into_the_list_of_their_version_and_stale_ones_are_ignored() {
        use Action::*;
        let routing = routing(false);
        let cases: &[FoldCase] = &[
            (&[("web", 1, Advertise)], &["10.0.0.1/32"], &[]),
            (&[("dual", 2, Advertise)], &["10.0.0.2/32"], &["fd00::2/128"]),
            (&[("web", 1, Advertise), ("web", 1, Withdraw)], &[], &[]),
            (&[("web", 1, Advertise), ("web", 1, Advertise)], &["10.0.0.1/32"], &[]),
            // A replaced instance (generation 0) and a removed service change nothing.
            (&[("web", 0, Advertise), ("gone", 1, Advertise)], &[], &[]),
        ];
        for (events, want4, want6) in cases {
            let (mut v4, mut v6) = (Vec::new(), Vec::new());
            for (service, generation, action) in events.iter() {
                let e = event(service, *generation, *action);
                let fresh = fold(&mut v4, None, IpVersion::V4, &routing, &e);
                assert_eq!(fold(&mut v6, None, IpVersion::V6, &routing, &e), fresh);
                assert_eq!(fresh, *generation != 0 && *service != "gone", "{events:?}");
            }
            assert_eq!((v4, v6), (prefixes(want4), prefixes(want6)), "{events:?}");
        }
    }

    #[test]
    fn degrade_and_drain_move_prefixes_into_the_degraded_set_only_where_there_is_one() {
        use Action::*;
        let routing = routing(false);
        // (events on web, the list after them, the degraded set after them)
        let cases: &[(&[Action], &[&str], &[&str])] = &[
            (&[AdvertiseDegraded], &["10.0.0.1/32"], &["10.0.0.1/32"]),
            (&[AdvertiseDegraded, Advertise], &["10.0.0.1/32"], &[]),
            (&[Advertise, Drain], &["10.0.0.1/32"], &["10.0.0.1/32"]),
            // A drain never advertises what is withdrawn.
            (&[Drain], &[], &[]),
            (&[AdvertiseDegraded, Withdraw], &[], &[]),
        ];
        for (actions, list, degraded) in cases {
            let (mut got, mut set, mut plain) = (Vec::new(), Vec::new(), Vec::new());
            for action in actions.iter() {
                fold(&mut got, Some(&mut set), IpVersion::V4, &routing, &event("web", 1, *action));
                fold(&mut plain, None, IpVersion::V4, &routing, &event("web", 1, *action));
            }
            assert_eq!((&got, &set), (&prefixes(list), &prefixes(degraded)), "{actions:?}");
            assert_eq!(plain, got, "{actions:?}: without a degraded set, degraded is advertised");
        }
        assert_eq!(
            degraded_changes(&prefixes(&["10.0.0.1/32"]), &prefixes(&["10.0.0.2/32"])),
            [(prefix("10.0.0.2/32"), true), (prefix("10.0.0.1/32"), false)]
        );
    }

    #[test]
    fn a_commit_says_what_changed_and_what_must_run() {
        use Action::*;
        let routing = routing(false);
        let cases: &[CommitCase] = &[
            // A flap that cancelled within the batch: the same list, nothing to do.
            (&["10.0.0.1/32"], &["10.0.0.1/32"], &[], false, &[]),
            (&[], &["10.0.0.1/32"], &[("10.0.0.1/32", Advertise)], true, &[]),
            (&["10.0.0.1/32", "10.0.0.2/32"], &["10.0.0.2/32"], &[("10.0.0.1/32", Withdraw)], true, &[]),
            // A service with a custom command runs it, not the daemon's.
            (&[], &["10.0.0.3/32"], &[("10.0.0.3/32", Advertise)], false, &[("custom", Advertise)]),
            (
                &["10.0.0.3/32"],
                &["10.0.0.1/32"],
                &[("10.0.0.1/32", Advertise), ("10.0.0.3/32", Withdraw)],
                true,
                &[("custom", Withdraw)],
            ),
            // Two services with their own commands: each runs its own.
            (
                &[],
                &["10.0.0.3/32", "10.0.0.4/32"],
                &[("10.0.0.3/32", Advertise), ("10.0.0.4/32", Advertise)],
                false,
                &[("custom", Advertise), ("custom2", Advertise)],
            ),
            // A prefix no service owns needs the daemon's reconfigure.
            (&["10.9.9.9/32"], &[], &[("10.9.9.9/32", Withdraw)], true, &[]),
            // Only the order differs: no change.
            (&["10.0.0.1/32", "10.0.0.2/32"], &["10.0.0.2/32", "10.0.0.1/32"], &[], false, &[]),
        ];
        for (listed, wanted, changes, reload, custom) in cases {
            let got = commit(&prefixes(listed), &prefixes(wanted), &routing);
            let want_changes: Vec<(IpPrefix, Action)> =
                changes.iter().map(|(p, a)| (prefix(p), *a)).collect();
            let got_changes: Vec<(IpPrefix, Action)> =
                got.changes.iter().map(|c| (c.prefix, c.action)).collect();
            assert_eq!(got_changes, want_changes, "{listed:?} -> {wanted:?}");
            assert_eq!(got.reload_bird, *reload, "{listed:?} -> {wanted:?}");
            let want_custom: Vec<(String, Action)> =
                custom.iter().map(|(s, a)| (s.to_string(), *a)).collect();
            assert_eq!(got.custom, want_custom, "{listed:?} -> {wanted:?}");
        }
        let owner = commit(&[], &prefixes(&["10.0.0.2/32"]), &routing).changes[0].owner.clone();
        assert_eq!(owner.as_deref(), Some("dual"));
    }

    #[test]
    fn the_start_up_pass_fixes_the_variable_and_dummy_and_purges_when_asked() {
        let parse = |text: &str| super::super::file::parse(text);
        let v4_dummy = bird(IpVersion::V4, "/run/a.ctl", Some("10.189.200.255/32"));
        let v4_none = bird(IpVersion::V4, "/run/a.ctl", None);
        let good =
            "define ACAST_PS_ADVERTISE =\n    [\n        10.189.200.255/32,\n        10.0.0.1/32\n    ];\n";
        let foreign =
            "define ACAST_PS_ADVERTISE =\n    [\n        10.189.200.255/32,\n        10.7.7.7/32\n    ];\n";
        let no_dummy = "define ACAST_PS_ADVERTISE =\n    [\n        10.0.0.1/32\n    ];\n";
        let wrong_name = "define OTHER =\n    [\n        10.189.200.255/32\n    ];\n";
        // (file, settings, purge, kept, fix needed)
        let cases: &[(&str, &BirdSettings, bool, &[&str], bool)] = &[
            (good, &v4_dummy, false, &["10.0.0.1/32"], false),
            // dummy = none: a file without it is right; one with it keeps it as a
            // prefix no service has (dropped at the first batch).
            (no_dummy, &v4_none, false, &["10.0.0.1/32"], false),
            (no_dummy, &v4_dummy, false, &["10.0.0.1/32"], true),
            (wrong_name, &v4_dummy, false, &[], true),
            (foreign, &v4_dummy, false, &["10.7.7.7/32"], false),
            (foreign, &v4_dummy, true, &[], true),
        ];
        for (text, settings, purge, kept, fix) in cases {
            let got = startup(parse(text), settings, &routing(*purge), "f");
            assert_eq!(got.advertised, prefixes(kept), "{text:?} purge={purge}");
            assert_eq!(got.fix_needed, *fix, "{text:?} purge={purge}: {:?}", got.notes);
        }
    }

    #[test]
    fn due_reconfigures_one_per_bird_and_retry_only_what_failed() {
        let routing = routing(false);
        let shared = Reconfigure::Socket(PathBuf::from("/run/a.ctl"));
        let (birdc, birdc6) = (
            Reconfigure::Command(Argv::parse("birdc configure").unwrap()),
            Reconfigure::Command(Argv::parse("birdc6 configure").unwrap()),
        );
        let now = Instant::now();
        let later = now + Duration::from_secs(4);
        let file = |version, reconfigure, bird_current| FileView {
            version,
            reconfigure,
            file_current: true,
            bird_current,
        };
        let (t4, t6) = (Target::Bird(birdc.clone()), Target::Bird(birdc6.clone()));
        let none = BTreeMap::new();

        // Bird 2/3: both files changed, one Bird: one configure.
        let files = [file(IpVersion::V4, &shared, false), file(IpVersion::V6, &shared, false)];
        assert_eq!(due(&files, &none, &routing, &[], now), [Target::Bird(shared.clone())]);

        // Bird 1.6: only v4 changed: only birdc.
        let files = [file(IpVersion::V4, &birdc, false), file(IpVersion::V6, &birdc6, true)];
        assert_eq!(due(&files, &none, &routing, &[], now), std::slice::from_ref(&t4));

        // v4 failed and waits for its retry while v6 changes: v6 runs now, v4 does not.
        let files = [file(IpVersion::V4, &birdc, false), file(IpVersion::V6, &birdc6, false)];
        let lanes = [LaneView { target: &t4, running: false, retry_at: Some(later), not_before: None }];
        assert_eq!(due(&files, &none, &routing, &lanes, now), std::slice::from_ref(&t6));
        // Its retry comes: v4 runs, and v6 (now current) is not run again.
        let files = [file(IpVersion::V4, &birdc, false), file(IpVersion::V6, &birdc6, true)];
        assert_eq!(due(&files, &none, &routing, &lanes, later), std::slice::from_ref(&t4));

        // A running configure is never joined by a second one to the same Bird.
        let lanes = [LaneView { target: &t4, running: true, retry_at: None, not_before: None }];
        assert_eq!(due(&files, &none, &routing, &lanes, later), Vec::<Target>::new());

        // Nor does one start while its Bird rests after the last: it waits for that.
        let soon = later + Duration::from_millis(30);
        let lanes = [LaneView { target: &t4, running: false, retry_at: None, not_before: Some(soon) }];
        assert_eq!(due(&files, &none, &routing, &lanes, later), Vec::<Target>::new());
        assert_eq!(due(&files, &none, &routing, &lanes, soon), std::slice::from_ref(&t4));

        // A custom command waits until its service's file is written.
        let pending = BTreeMap::from([("custom".to_string(), Action::Advertise)]);
        let unwritten = [FileView {
            version: IpVersion::V4,
            reconfigure: &birdc,
            file_current: false,
            bird_current: false,
        }];
        assert_eq!(due(&unwritten, &pending, &routing, &[], now), Vec::<Target>::new());
        let written = [file(IpVersion::V4, &birdc, true)];
        assert_eq!(due(&written, &pending, &routing, &[], now), [Target::Custom("custom".into())]);
    }

    #[test]
    fn a_custom_command_gets_up_or_down() {
        assert_eq!((Action::Advertise.direction(), Action::Withdraw.direction()), ("up", "down"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut wait = RETRY_FIRST;
        let mut seen = vec![wait];
        for _ in 0..6 {
            wait = next_backoff(wait);
            seen.push(wait);
        }
        let secs: Vec<f64> = seen.iter().map(Duration::as_secs_f64).collect();
        assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]);
    }

    #[test]
    fn bird_rests_as_long_as_its_last_configure_took() {
        let finished = Instant::now();
        let ms = Duration::from_millis;
        let table = [(ms(0), finished), (ms(7), finished + ms(7)), (ms(2000), finished + ms(2000))];
        for (took, next) in table {
            assert_eq!(configure_not_before(finished, took), next, "after {took:?}");
        }
    }
}
