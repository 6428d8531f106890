//! Results of a lab run: per-scenario outcome and time, written as `results.json` (read back by
//! the host-side test) and as a fixed-width table (`results.txt`, also printed).
//!
//! Contract: a SKIP is never counted as a pass; [`LabReport::counts`] returns pass/fail/skip
//! separately and the table's last line states all three.

use serde::{Deserialize, Serialize};

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", content = "reason")]
pub enum Outcome {
    Pass,
    Fail(String),
    /// Not run, with the reason (e.g. `target/debug/iked not built`).
    Skip(String),
}

impl Outcome {
    /// PASS / FAIL / SKIP.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail(_) => "FAIL",
            Outcome::Skip(_) => "SKIP",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// Short id, e.g. `baseline-seed`.
    pub scenario: String,
    /// The implementation iked is tested against (or both ends of a baseline).
    pub peer: String,
    /// iked's role, or `baseline` for strongSwan against itself.
    pub role: String,
    pub outcome: Outcome,
    /// Wall time of the scenario in seconds (0 when skipped).
    pub secs: f64,
}

/// A whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabReport {
    /// `uname -r` in the guest.
    pub kernel: String,
    /// Guest uptime when the runner started: the VM's boot time as the guest sees it.
    pub guest_boot_secs: f64,
    /// Time the runner spent on scenarios.
    pub scenarios_secs: f64,
    pub results: Vec<ScenarioResult>,
}

impl LabReport {
    /// (passed, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |w: &str| {
            self.results
                .iter()
                .filter(|r| r.outcome.word() == w)
                .count()
        };
        (n("PASS"), n("FAIL"), n("SKIP"))
    }

    /// The table, one line per scenario, reasons for FAIL/SKIP on indented lines below.
    pub fn table(&self) -> String {
        let headers = ["scenario", "peer", "role", "result", "time"];
        let rows: Vec<[String; 5]> = self
            .results
            .iter()
            .map(|r| {
                [
                    r.scenario.clone(),
                    r.peer.clone(),
                    r.role.clone(),
                    r.outcome.word().to_string(),
                    format!("{:.1} s", r.secs),
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join(" | ")
                .trim_end()
                .to_string()
        };
        let mut out = String::new();
        out.push_str(&line(&headers.map(String::from)));
        out.push('\n');
        out.push_str(
            &widths
                .iter()
                .map(|w| "-".repeat(*w))
                .collect::<Vec<_>>()
                .join("-+-"),
        );
        out.push('\n');
        for (row, r) in rows.iter().zip(&self.results) {
            out.push_str(&line(row));
            out.push('\n');
            if let Outcome::Fail(why) | Outcome::Skip(why) = &r.outcome {
                let first = why.lines().next().unwrap_or("");
                let short: String = first.chars().take(300).collect();
                out.push_str(&format!("    -> {short}\n"));
            }
        }
        let (p, f, s) = self.counts();
        out.push_str(&format!(
            "lab: {p} passed, {f} failed, {s} skipped (kernel {}, guest boot {:.1} s, scenarios {:.1} s)\n",
            self.kernel, self.guest_boot_secs, self.scenarios_secs
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(s: &str, o: Outcome) -> ScenarioResult {
        ScenarioResult {
            scenario: s.into(),
            peer: "strongSwan 5.9.8".into(),
            role: "baseline".into(),
            outcome: o,
            secs: 12.34,
        }
    }

    #[test]
    fn skips_are_counted_apart_from_passes() {
        let r = LabReport {
            kernel: "6.12".into(),
            results: vec![
                row("a", Outcome::Pass),
                row("b", Outcome::Skip("target/debug/iked not built".into())),
                row("c", Outcome::Fail("no ESP".into())),
            ],
            ..LabReport::default()
        };
        assert_eq!(r.counts(), (1, 1, 1));
        let t = r.table();
        assert!(t.contains("lab: 1 passed, 1 failed, 1 skipped"), "{t}");
        assert!(t.contains("-> target/debug/iked not built"));
        assert!(t.contains("12.3 s"));
        assert_eq!(t.lines().filter(|l| l.contains(" | ")).count(), 4, "{t}");
    }

    #[test]
    fn json_round_trips() {
        let r = LabReport {
            kernel: "k".into(),
            guest_boot_secs: 20.5,
            scenarios_secs: 100.0,
            results: vec![row("a", Outcome::Fail("x".into()))],
        };
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<LabReport>(&j).unwrap(), r);
    }
}
