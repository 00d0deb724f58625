//! Running one scenario in several processes (`--procs N`): the parent re-executes
//! this binary N times with a hidden `--child INDEX:COUNT:NONCE` flag, keeps the
//! children in step with named barriers, and collects each child's JSON result.
//!
//! The line protocol, one JSON object per line:
//! child → parent on stdout: `{"barrier":NAME,"data":…}`, then `{"result":…}`
//! or `{"error":"…"}`; parent → child on stdin: `{"release":NAME,"data":[…]}`
//! with every child's `data` in index order. Human output goes to stderr.
//!
//! With one process the same [`Worker`] API runs without any of this: a barrier
//! returns at once with this process's own data.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::cli::ChildRole;

/// This process's part in a run.
pub struct Worker {
    pub index: usize,
    pub count: usize,
    /// Lines from the parent (its releases), when this is a child.
    parent: Option<mpsc::Receiver<String>>,
}

#[derive(Deserialize)]
struct Release {
    release: String,
    data: Vec<Value>,
}

impl Worker {
    /// The only worker of a one-process run.
    pub fn solo() -> Worker {
        Worker {
            index: 0,
            count: 1,
            parent: None,
        }
    }

    /// Worker `role.index` of `role.count`, driven by a parent through stdin.
    pub fn child(role: &ChildRole) -> Worker {
        // A plain thread reads stdin (blocking) and hands lines over.
        let (tx, rx) = mpsc::channel(16);
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { return };
                if tx.blocking_send(line).is_err() {
                    return;
                }
            }
        });
        Worker {
            index: role.index,
            count: role.count,
            parent: Some(rx),
        }
    }

    /// The leader samples the server and hosts single connections (the churn observer).
    pub fn is_leader(&self) -> bool {
        self.index == 0
    }

    /// Does this worker open connection number `global`?
    pub fn owns(&self, global: usize) -> bool {
        global % self.count == self.index
    }

    /// Wait until every worker has reached barrier `name`; returns every worker's
    /// `data`, in worker order.
    pub async fn barrier(&mut self, name: &str, data: Value) -> anyhow::Result<Vec<Value>> {
        let Some(lines) = self.parent.as_mut() else {
            return Ok(vec![data]);
        };
        emit(&json!({ "barrier": name, "data": data }))?;
        let line = lines.recv().await.context("the parent went away")?;
        let release: Release =
            serde_json::from_str(&line).context("unreadable release from the parent")?;
        if release.release != name {
            bail!(
                "expected the release of barrier {name:?}, got {:?}",
                release.release
            );
        }
        Ok(release.data)
    }

    /// Hand this worker's result to the parent (a child only; a solo worker's
    /// caller uses the value itself).
    pub fn send_result(&self, outcome: &anyhow::Result<Value>) -> anyhow::Result<()> {
        if self.parent.is_none() {
            return Ok(());
        }
        match outcome {
            Ok(v) => emit(&json!({ "result": v })),
            Err(e) => emit(&json!({ "error": format!("{e:#}") })),
        }
    }
}

fn emit(v: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}").context("writing to the parent")?;
    out.flush().context("writing to the parent")
}

enum FromChild {
    Line(usize, String),
    Gone(usize),
}

/// Start `count` children running this same command line, relay their barriers
/// and return their results in worker order. Children are killed if this fails
/// or is dropped (e.g. at `--max-runtime`).
pub async fn run_children(count: usize, nonce: &str) -> anyhow::Result<Vec<Value>> {
    let exe = std::env::current_exe().context("cannot find this program to re-execute")?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let (tx, mut rx) = mpsc::channel::<FromChild>(256);
    let mut children: Vec<Child> = Vec::with_capacity(count);
    let mut stdins: Vec<ChildStdin> = Vec::with_capacity(count);
    for index in 0..count {
        let mut child = Command::new(&exe)
            .args(&args)
            .arg("--child")
            .arg(format!("{index}:{count}:{nonce}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start worker process {index}"))?;
        let stdout = child.stdout.take().context("worker stdout")?;
        stdins.push(child.stdin.take().context("worker stdin")?);
        children.push(child);
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(FromChild::Line(index, line)).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(FromChild::Gone(index)).await;
        });
    }
    drop(tx);

    let mut results: Vec<Option<Value>> = vec![None; count];
    // Barrier name → each child's data once it has arrived.
    let mut waiting: Vec<(String, Vec<Option<Value>>)> = Vec::new();
    while results.iter().any(Option::is_none) {
        let Some(msg) = rx.recv().await else {
            bail!("every worker process went away before reporting");
        };
        let (index, line) = match msg {
            FromChild::Line(i, l) => (i, l),
            FromChild::Gone(i) => {
                if results[i].is_none() {
                    bail!("worker process {i} exited without a result");
                }
                continue;
            }
        };
        let mut v: Value = serde_json::from_str(&line)
            .with_context(|| format!("worker {index} wrote an unreadable line: {line}"))?;
        if let Some(err) = v.get("error") {
            bail!(
                "worker process {index} failed: {}",
                err.as_str().unwrap_or("?")
            );
        }
        if let Some(result) = v.get_mut("result") {
            results[index] = Some(result.take());
            continue;
        }
        let Some(name) = v.get("barrier").and_then(Value::as_str).map(str::to_owned) else {
            bail!("worker {index} wrote an unexpected line: {line}");
        };
        let data = v.get_mut("data").map(Value::take).unwrap_or(Value::Null);
        let slot = match waiting.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                waiting.push((name.clone(), vec![None; count]));
                waiting.len() - 1
            }
        };
        waiting[slot].1[index] = Some(data);
        if waiting[slot].1.iter().all(Option::is_some) {
            let (name, datas) = waiting.remove(slot);
            let datas: Vec<Value> = datas.into_iter().map(Option::unwrap_or_default).collect();
            let line = format!("{}\n", json!({ "release": name, "data": datas }));
            for (i, stdin) in stdins.iter_mut().enumerate() {
                stdin
                    .write_all(line.as_bytes())
                    .await
                    .with_context(|| format!("releasing worker {i}"))?;
                stdin.flush().await.ok();
            }
        }
    }
    drop(stdins);
    for (i, child) in children.iter_mut().enumerate() {
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(Ok(status)) if !status.success() => {
                eprintln!("warning: worker process {i} exited with {status}");
            }
            Ok(_) => {}
            Err(_) => {
                eprintln!("warning: worker process {i} did not exit; killing it");
                let _ = child.start_kill();
            }
        }
    }
    Ok(results.into_iter().map(Option::unwrap_or_default).collect())
}
