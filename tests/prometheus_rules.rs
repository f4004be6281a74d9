//! The shipped Prometheus rules (packaging/prometheus/) are valid and do what they say:
//! `promtool test rules` fires each alert on its bad series and keeps it quiet on a
//! healthy one. `PROMTOOL` overrides `promtool` from PATH.

use crate::common;

use std::path::Path;
use std::process::Command;

#[test]
fn the_shipped_alert_rules_pass_their_promtool_tests() {
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    if Command::new(&promtool).arg("--version").output().is_err() {
        common::skip_or_fail(&format!("{promtool} is missing (apt-get install prometheus)"));
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus");
    for args in [
        &["check", "rules", "anycast-healthchecker.rules.yml"][..],
        &["test", "rules", "anycast-healthchecker.rules.test.yml"],
    ] {
        let output = Command::new(&promtool).args(args).current_dir(&dir).output().unwrap();
        let said = format!("{}{}", common::stdout(&output), common::stderr(&output));
        assert!(output.status.success(), "promtool {args:?}:\n{said}");
        assert!(said.contains("SUCCESS"), "promtool {args:?}:\n{said}");
    }
}
