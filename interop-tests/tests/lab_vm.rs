//! The lab, from the host: boot ONE TCG VM, run every scenario inside it, print the table, and
//! fail if any scenario failed. Skipped scenarios (iked not built yet) are counted and printed,
//! never passed off as passes.
//!
//! Needs `scripts/setup-host.sh` to have run (vng, the 6.12 kernel, strongSwan, tcpdump).
//! Environment: `IKED_LAB=/dir` if setup-host.sh used another lab directory;
//! `IKED_LAB_ONLY=id,id` runs some scenarios; `IKED_BIN` / `IKECTL_BIN` point at
//! other builds of our binaries; `IKED_LAB_KEEP=1` keeps logs of passed scenarios too.
//! Output: `$CARGO_TARGET_TMPDIR/lab/` (results.json, results.txt, vm-console.log, per-scenario
//! logs of failures).

use std::path::{Path, PathBuf};

use interop_tests::report::LabReport;
use interop_tests::vm::{self, Console, LAB_DIR, VmRun};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate lives in the workspace")
        .to_path_buf()
}

/// Our binary `name`: `$<ENV>`, else beside this test's `lab-runner` (same target dir, where
/// `cargo test --workspace` builds it), else the workspace's `target/debug/`.
fn our_binary(name: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let runner = Path::new(env!("CARGO_BIN_EXE_lab-runner"));
    let beside = runner.with_file_name(name);
    if beside.is_file() {
        return beside;
    }
    workspace().join("target/debug").join(name)
}

#[test]
fn lab_vm_runs_all_scenarios() {
    let lab_dir =
        std::env::var_os("IKED_LAB").map_or_else(|| PathBuf::from(LAB_DIR), PathBuf::from);
    let lab_dir = lab_dir.as_path();
    let kernel = vm::find_kernel(lab_dir).unwrap_or_else(|e| panic!("{e}"));
    let ip = vm::find_ip(lab_dir);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lab");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();

    let iked = our_binary("iked", "IKED_BIN");
    let ikectl = our_binary("ikectl", "IKECTL_BIN");
    let mut command = format!(
        "{} run --out {} --workspace {} --iked {} --ikectl {} --ip {}",
        env!("CARGO_BIN_EXE_lab-runner"),
        out.display(),
        workspace().display(),
        iked.display(),
        ikectl.display(),
        ip.display()
    );
    if let Ok(only) = std::env::var("IKED_LAB_ONLY") {
        command.push_str(&format!(" --only {only}"));
    }
    if std::env::var_os("IKED_LAB_KEEP").is_some() {
        command.push_str(" --keep-all");
    }
    let console = out.join("vm-console.log");
    eprintln!(
        "[lab] booting {} under TCG; console in {}",
        kernel.display(),
        console.display()
    );
    let outcome = vm::run_vm(&VmRun {
        kernel,
        out: out.clone(),
        command,
        console: Console::File(console.clone()),
        timeout_secs: 20 * 60,
    })
    .unwrap_or_else(|e| panic!("{e}"));

    let results = out.join("results.json");
    let report: LabReport = match std::fs::read_to_string(&results) {
        Ok(text) => serde_json::from_str(&text).expect("results.json parses"),
        Err(e) => {
            let console_text = std::fs::read_to_string(&console).unwrap_or_default();
            let tail: Vec<&str> = console_text.lines().rev().take(40).collect();
            panic!(
                "no results from the VM ({}: {e}; vm exit {:?}, timed out {}). Console tail:\n{}",
                results.display(),
                outcome.code,
                outcome.timed_out,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    };
    let (passed, failed, skipped) = report.counts();
    let timing = format!(
        "VM wall time (host, boot to power-off): {:.1} s; guest boot to runner: {:.1} s; \
         scenarios: {:.1} s; per scenario: {}\n",
        outcome.secs,
        report.guest_boot_secs,
        report.scenarios_secs,
        report
            .results
            .iter()
            .map(|r| format!("{} {:.1} s", r.scenario, r.secs))
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::fs::write(out.join("timing.txt"), &timing).unwrap();
    println!("\n{}{timing}", report.table());
    if skipped > 0 {
        println!("lab: {skipped} scenario(s) SKIPPED - not run, not passed (reasons above)");
    }
    println!("lab output: {}", out.display());

    assert!(
        !outcome.timed_out,
        "the lab VM timed out after {:.0} s",
        outcome.secs
    );
    assert!(passed > 0, "no scenario passed");
    assert_eq!(
        failed,
        0,
        "{failed} lab scenario(s) failed; logs in {}",
        out.display()
    );
    assert_eq!(
        outcome.code,
        Some(0),
        "the runner in the VM exited with {:?}",
        outcome.code
    );
}
