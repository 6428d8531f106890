//! The lab, from the host: boot TCG VMs (one by default, `IKED_LAB_VMS=n` for several at once), each running
//! a balanced share of the scenarios (`interop_tests::shard`), merge their tables, print it, and
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
//! `IKED_LAB_TRACE=1` writes every command the runner starts, with its duration, to the console.
//! Output: `$CARGO_TARGET_TMPDIR/lab/` (results.json, results.txt, vm-console-K.log per VM, per-scenario
//! logs of failures).

use std::path::{Path, PathBuf};

use interop_tests::report::LabReport;
use interop_tests::scenario::{self, Scenario};
use interop_tests::shard;
use interop_tests::vm::{self, Console, LAB_DIR, VmRun};

/// How many lab VMs run at once: `IKED_LAB_VMS`, else 1 (see `interop_tests::shard` for why;
/// each has 2 GiB and the host's vCPU count).
fn vms() -> usize {
    std::env::var("IKED_LAB_VMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1)
}

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
    let mut env = std::env::var("IKED_LAB_ROUNDS")
        .ok()
        .filter(|v| v.chars().all(|c| c.is_ascii_digit()) && !v.is_empty())
        .map_or_else(String::new, |v| format!("env IKED_LAB_ROUNDS={v} "));
    // IKED_LAB_TRACE profiles the lab: every command the runner starts, with its duration.
    if std::env::var_os("IKED_LAB_TRACE").is_some() {
        env.push_str("env IKED_LAB_TRACE=1 ");
    }
    let only: Vec<String> = std::env::var("IKED_LAB_ONLY")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let selected: Vec<Scenario> = scenario::all()
        .into_iter()
        .filter(|s| only.is_empty() || only.contains(&s.id))
        .collect();
    assert!(
        !selected.is_empty(),
        "IKED_LAB_ONLY={only:?} matches no scenario"
    );
    let shards = shard::split(&selected, vms());
    // Made here, not lazily in a VM: two VMs would race, and the host makes RSA keys faster.
    shard::prepare_shared(&out).unwrap_or_else(|e| panic!("preparing the lab's PKI: {e}"));

    let runs: Vec<(VmRun, PathBuf)> = shards
        .iter()
        .enumerate()
        .map(|(k, _)| {
            // The runner computes the same split from the same selection: only the share's
            // index crosses the guest's kernel command line (2 KiB at most, a list of ids
            // does not fit; a longer one hung QEMU before the guest started).
            let mut command = format!(
                "{env}{} run --out {} --workspace {} --iked {} --ikectl {} --ip {} --lab-dir {} \
                 --report results-{k} --shard {k} --shards {}",
                env!("CARGO_BIN_EXE_lab-runner"),
                out.display(),
                workspace().display(),
                iked.display(),
                ikectl.display(),
                ip.display(),
                lab_dir.display(),
                shards.len()
            );
            if !only.is_empty() {
                command.push_str(&format!(" --only {}", only.join(",")));
            }
            if std::env::var_os("IKED_LAB_KEEP").is_some() {
                command.push_str(" --keep-all");
            }
            let console = out.join(format!("vm-console-{k}.log"));
            let run = VmRun {
                kernel: kernel.clone(),
                out: out.clone(),
                command,
                console: Console::File(console.clone()),
                // A hang guard, not a measure: a shard of the full lab under TCG.
                timeout_secs: 75 * 60,
            };
            (run, console)
        })
        .collect();
    eprintln!(
        "[lab] booting {} VM(s) with {} under TCG ({} scenarios: {}); consoles in {}",
        runs.len(),
        kernel.display(),
        selected.len(),
        shards
            .iter()
            .map(|s| format!(
                "{} rows, ~{} s",
                s.len(),
                s.iter().map(shard::cost_secs).sum::<u32>()
            ))
            .collect::<Vec<_>>()
            .join(" / "),
        out.display()
    );
    let outcomes: Vec<vm::VmOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|(run, _)| scope.spawn(move || vm::run_vm(run)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .expect("VM thread")
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    });

    // One report for the whole lab, rows in the table's order.
    let mut report = LabReport::default();
    for (k, ((_, console), outcome)) in runs.iter().zip(&outcomes).enumerate() {
        let results = out.join(format!("results-{k}.json"));
        let part: LabReport = match std::fs::read_to_string(&results) {
            Ok(text) => serde_json::from_str(&text).expect("results.json parses"),
            Err(e) => {
                let console_text = std::fs::read_to_string(console).unwrap_or_default();
                let tail: Vec<&str> = console_text.lines().rev().take(40).collect();
                panic!(
                    "no results from VM {k} ({}: {e}; vm exit {:?}, timed out {}). Console \
                     tail:\n{}",
                    results.display(),
                    outcome.code,
                    outcome.timed_out,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        };
        report.kernel = part.kernel;
        report.guest_boot_secs = report.guest_boot_secs.max(part.guest_boot_secs);
        report.scenarios_secs = report.scenarios_secs.max(part.scenarios_secs);
        report.results.extend(part.results);
    }
    let position = |id: &str| selected.iter().position(|s| s.id == id);
    report.results.sort_by_key(|r| position(&r.scenario));
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&report).expect("report serialises"),
    )
    .unwrap();
    std::fs::write(out.join("results.txt"), report.table()).unwrap();
    let counts = report.counts();
    let timing = format!(
        "VM wall time (host, boot to power-off, the longest of {} VMs): {:.1} s; guest boot to \
         runner: {:.1} s; scenarios (longest VM): {:.1} s; per scenario: {}\n",
        outcomes.len(),
        outcomes.iter().map(|o| o.secs).fold(0.0, f64::max),
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

    for (k, outcome) in outcomes.iter().enumerate() {
        assert!(
            !outcome.timed_out,
            "lab VM {k} timed out after {:.0} s",
            outcome.secs
        );
    }
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
    for (k, outcome) in outcomes.iter().enumerate() {
        assert_eq!(
            outcome.code,
            Some(0),
            "the runner in VM {k} exited with {:?}",
            outcome.code
        );
    }
}
