//! `prometheus_listen`: a real Prometheus (Debian's, started by the test on loopback)
//! scrapes the daemon's `/metrics`, and a query through Prometheus's HTTP API returns
//! the service's state. `PROMETHEUS` overrides `/usr/bin/prometheus`.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(30);

/// A port free now on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` on 127.0.0.1:port; the body, or None.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

/// Kills Prometheus when the test ends, passing or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_real_prometheus_scrapes_the_daemon_and_answers_with_the_state() {
    let prometheus = std::env::var("PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".into());
    if !std::path::Path::new(&prometheus).exists() {
        common::skip_or_fail(&format!("{prometheus} is missing (apt-get install prometheus)"));
        return;
    }
    let (ours, theirs) = (free_port(), free_port());
    let setup = Setup::new(&format!("prometheus_listen = 127.0.0.1:{ours}"), "");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    daemon.wait_for_log(&format!("serving Prometheus metrics on http://127.0.0.1:{ours}/metrics"), WAIT);
    assert!(get(ours, "/metrics").is_some_and(|m| m.contains("anycast_healthchecker_service_status{")));

    let config = setup.sandbox.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: ahc\n    static_configs:\n      - targets: ['127.0.0.1:{ours}']\n",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus/anycast-healthchecker.rules.yml").display()
        ),
    );
    let log = std::fs::File::create(setup.path("prometheus.log")).unwrap();
    let _prometheus = Running(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", setup.path("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{theirs}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let query = "/api/v1/query?query=anycast_healthchecker_service_status%7Bservice_name%3D%22web%22%7D";
    let mut last = String::new();
    common::wait_for("Prometheus to have scraped the state", WAIT, || {
        last = get(theirs, query).unwrap_or_default();
        last.contains("\"state\":\"up\"")
    });
    let answer: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(answer["status"], "success", "{last}");
    let result = &answer["data"]["result"][0];
    assert_eq!(result["metric"]["ip_prefix"], "10.52.12.1/32", "{last}");
    assert_eq!(result["value"][1], "1", "{last}");

    // Every query of the shipped Grafana dashboard is PromQL this Prometheus accepts,
    // and the panels that show a service's state find data.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/grafana/anycast-healthchecker.json"),
        )
        .unwrap(),
    )
    .expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "{} panels", panels.len());
    for panel in panels {
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty()).expect("every panel queries");
        for target in targets {
            let expr = target["expr"].as_str().expect("expr").replace("$instance", ".*");
            let answer =
                get(theirs, &format!("/api/v1/query?query={}", percent_encode(&expr))).unwrap_or_default();
            let answer: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
            assert_eq!(answer["status"], "success", "{}: {expr}: {answer}", panel["title"]);
        }
    }
    let up = get(
        theirs,
        &format!("/api/v1/query?query={}", percent_encode("count(anycast_healthchecker_service_state == 0)")),
    );
    assert!(up.is_some_and(|a| a.contains("\"1\"")), "the Services up panel counts web");
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}
