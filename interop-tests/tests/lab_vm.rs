//! The lab, from the host: boot ONE TCG VM, run every scenario inside it, print the table, and
//! fail if any scenario failed. Skipped scenarios (iked not built) and known failures (XFAIL,
//! marked in `scenario::all`) are counted and printed, never passed off as passes. Under CI
//! (`CI=true`) a missing `iked`/`ikectl` fails the test instead of skipping.
//!
//! Needs `scripts/setup-host.sh` to have run (vng, the 6.12 kernel, strongSwan, tcpdump).
//! Environment: `IKED_LAB=/dir` if setup-host.sh used another lab directory;
//! `IKED_LAB_ONLY=id,id` runs some scenarios; `IKED_BIN` / `IKECTL_BIN` point at
//! other builds of our binaries (default: beside `lab-runner` in this target directory, built
//! there with `cargo build -p iked --bins` when missing); `IKED_LAB_KEEP=1` keeps logs of passed scenarios too;
//! `IKED_LAB_ROUNDS=n` runs n rounds in the both-start rows (default 20 against iked, 3 against charon).
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

/// True under CI (`CI` set to anything but `false`/`0`/empty): a missing binary or a skipped
/// scenario fails the test there instead of being skipped.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The target directory and profile directory this test was built into: `lab-runner` lives in
/// `<target>/<profile>/`, where `cargo test --workspace` also puts `iked` and `ikectl` (the
/// `iked` package has integration tests, so cargo builds its binaries before running tests).
fn profile_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_lab-runner"))
        .parent()
        .expect("lab-runner has a directory")
        .to_path_buf()
}

/// `iked` and `ikectl` from this checkout: `$IKED_BIN` / `$IKECTL_BIN` if set; else beside
/// `lab-runner`; if either is missing there (e.g. `cargo test -p interop-tests`), builds them
/// with the cargo running this test into the same target directory. Returns why they are
/// missing if that fails too.
fn our_binaries() -> (PathBuf, PathBuf, Option<String>) {
    let dir = profile_dir();
    let pick =
        |name: &str, env: &str| std::env::var_os(env).map_or_else(|| dir.join(name), PathBuf::from);
    let iked = pick("iked", "IKED_BIN");
    let ikectl = pick("ikectl", "IKECTL_BIN");
    if iked.is_file() && ikectl.is_file() {
        return (iked, ikectl, None);
    }
    let overridden =
        std::env::var_os("IKED_BIN").is_some() || std::env::var_os("IKECTL_BIN").is_some();
    let missing_list = |paths: [&PathBuf; 2]| {
        paths
            .iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let mut why = format!("{} missing", missing_list([&iked, &ikectl]));
    if !overridden {
        if let Some(e) = build_iked(&dir) {
            why = format!("{why}; building them failed: {e}");
        }
        if iked.is_file() && ikectl.is_file() {
            return (iked, ikectl, None);
        }
    }
    (iked, ikectl, Some(why))
}

/// `cargo build -p iked --bins` into the target directory that holds `profile_dir` (only the
/// debug profile is built this way). Returns an error text on failure.
fn build_iked(profile_dir: &Path) -> Option<String> {
    let target = profile_dir.parent()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("[lab] building iked and ikectl into {}", target.display());
    match std::process::Command::new(cargo)
        .args(["build", "-p", "iked", "--bins", "--target-dir"])
        .arg(target)
        .current_dir(workspace())
        .status()
    {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!("cargo build exited with {s}")),
        Err(e) => Some(format!("cannot run cargo: {e}")),
    }
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

    let (iked, ikectl, missing) = our_binaries();
    if let Some(why) = &missing {
        assert!(
            !in_ci(),
            "CI: iked scenarios cannot run: {why} (build with `cargo build -p iked --bins`)"
        );
        eprintln!("[lab] iked scenarios will be SKIPPED: {why}");
    }
    // The lab runner inherits no environment from here: pass the round override explicitly.
    let rounds = std::env::var("IKED_LAB_ROUNDS")
        .ok()
        .filter(|v| v.chars().all(|c| c.is_ascii_digit()) && !v.is_empty())
        .map_or_else(String::new, |v| format!("env IKED_LAB_ROUNDS={v} "));
    let mut command = format!(
        "{rounds}{} run --out {} --workspace {} --iked {} --ikectl {} --ip {} --lab-dir {}",
        env!("CARGO_BIN_EXE_lab-runner"),
        out.display(),
        workspace().display(),
        iked.display(),
        ikectl.display(),
        ip.display(),
        lab_dir.display()
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
        // A hang guard, not a measure: the full lab (iked, charon 5.9.8, strongSwan 6 and
        // Libreswan 5 rows, the OVS rows with two switches, the both-start rounds) under TCG.
        timeout_secs: 75 * 60,
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
    let counts = report.counts();
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
    if counts.skipped > 0 {
        println!(
            "lab: {} scenario(s) SKIPPED - not run, not passed (reasons above)",
            counts.skipped
        );
    }
    if counts.xfailed > 0 {
        println!(
            "lab: {} scenario(s) XFAIL - known failures, not passed (reasons above)",
            counts.xfailed
        );
    }
    println!("lab output: {}", out.display());

    assert!(
        !outcome.timed_out,
        "the lab VM timed out after {:.0} s",
        outcome.secs
    );
    assert!(counts.passed > 0, "no scenario passed");
    assert!(
        !(in_ci() && counts.skipped > 0),
        "CI: {} scenario(s) skipped",
        counts.skipped
    );
    assert_eq!(
        counts.failed,
        0,
        "{} lab scenario(s) failed; logs in {}",
        counts.failed,
        out.display()
    );
    // The runner exits 1 on a FAIL only (XFAIL and SKIP are counted above).
    assert_eq!(
        outcome.code,
        Some(0),
        "the runner in the VM exited with {:?}",
        outcome.code
    );
}
