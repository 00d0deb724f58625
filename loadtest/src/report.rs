//! The run's output: a human summary on stderr and exactly one JSON line on
//! stdout (`{"tool":"roomcast-loadtest","scenario":…,"label":…,…}`), which is
//! also appended to `--json-out` when given.
//!
//! Scenarios decide what goes in; this module only assembles and writes.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde_json::{Map, Value, json};

/// What every JSON line carries, whatever the scenario.
pub struct Header<'a> {
    pub scenario: &'a str,
    pub label: Option<&'a str>,
    pub nonce: &'a str,
    pub started_unix_s: u64,
    pub wall_s: f64,
    pub procs: usize,
    pub urls: &'a [String],
    pub src_ips: Option<u8>,
    pub client_cpu_total_s: f64,
    pub warnings: &'a [String],
}

/// Build the JSON line: `tool`, `scenario` and `label` first, then the other
/// header fields, the scenario's fields and the verdict (in key order).
pub fn line(h: &Header, ok: bool, fields: Map<String, Value>, problems: &[String]) -> String {
    let mut rest = Map::new();
    rest.insert("ok".into(), json!(ok));
    rest.insert("exit_code".into(), json!(if ok { 0 } else { 1 }));
    rest.insert("nonce".into(), json!(h.nonce));
    rest.insert("started_unix_s".into(), json!(h.started_unix_s));
    rest.insert("wall_s".into(), json!(crate::stats::round3(h.wall_s)));
    rest.insert("procs".into(), json!(h.procs));
    rest.insert("urls".into(), json!(h.urls));
    rest.insert("src_ips".into(), json!(h.src_ips));
    rest.insert(
        "client_cpu_total_s".into(),
        json!(crate::stats::round3(h.client_cpu_total_s)),
    );
    for (k, v) in fields {
        rest.insert(k, v);
    }
    rest.insert("warnings".into(), json!(h.warnings));
    rest.insert("problems".into(), json!(problems));
    // serde_json's map is sorted; put the three identifying keys in front by hand.
    let rest = Value::Object(rest).to_string();
    let rest = rest
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or_default();
    format!(
        r#"{{"tool":"roomcast-loadtest","scenario":{},"label":{},{rest}}}"#,
        json!(h.scenario),
        json!(h.label),
    )
}

/// Print the human summary to stderr.
pub fn human(h: &Header, ok: bool, lines: &[String], problems: &[String]) {
    let mut err = std::io::stderr().lock();
    let label = h.label.map(|l| format!(" [{l}]")).unwrap_or_default();
    let _ = writeln!(
        err,
        "== roomcast-loadtest {}{label}: {} ({:.1} s, {} process{}) ==",
        h.scenario,
        if ok { "PASS" } else { "FAIL" },
        h.wall_s,
        h.procs,
        if h.procs == 1 { "" } else { "es" }
    );
    for l in lines {
        let _ = writeln!(err, "  {l}");
    }
    for w in h.warnings {
        let _ = writeln!(err, "  warning: {w}");
    }
    for p in problems {
        let _ = writeln!(err, "  problem: {p}");
    }
}

/// Print the JSON line to stdout and append it to `json_out`.
pub fn write(text: &str, json_out: Option<&Path>) -> anyhow::Result<()> {
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").context("writing the result to stdout")?;
        out.flush().context("writing the result to stdout")?;
    }
    if let Some(path) = json_out {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{text}").with_context(|| format!("appending to {}", path.display()))?;
    }
    Ok(())
}
