//! What happens to the held SAs after set-up (issue 21 §1): the rekeys the responder under
//! test starts (its `rekey_time`s are short, ours are the defaults), counted as our engines see
//! them, every SA or CHILD_SA lost or refused on the way, and a time line of the responder's CPU
//! and RSS beside the rekey counts, so `scripts/bench.sh` can price a CHILD rekey and an IKE
//! rekey from the intervals that saw only one kind.
//!
//! Contract: [`Tally::on_event`] sees every engine event after set-up; [`Tally::tick`] is
//! called at least every `every`, and samples the responder then; [`Tally::report`] is the
//! second JSON line `iked-bench --hold` prints when its standard input closes.

use std::collections::HashSet;
use std::time::Duration;

use iked_ike::Timestamp;
use iked_ike::engine::{ChildSaId, DownReason, Engine, Event, IkeSaId};

use crate::sample;

/// One point of the time line.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Point {
    /// Seconds since the hold began.
    pub t_s: f64,
    /// Responder CPU time (ns, all threads) and RSS.
    pub cpu_ns: u64,
    pub rss_kb: u64,
    /// Rekeys completed so far, as our engines saw them.
    pub child_rekeys: u64,
    pub ike_rekeys: u64,
}

/// Counts of the hold phase.
#[derive(Debug, Default)]
pub struct Tally {
    child_rekeys: u64,
    ike_rekeys: u64,
    /// Established IKE SAs that went down (not by our own delete).
    ike_down: u64,
    /// CHILD_SAs that went down other than by being replaced in a rekey.
    child_down: u64,
    /// CHILD_SAs (rekeys included) that failed to establish.
    child_failed: u64,
    /// Our engines' log records of a failed exchange (see [`is_failure_log`]).
    failed_exchanges: u64,
    first_failure: Option<String>,
    /// SAs replaced by a rekey, whose going down (by either side's Delete) is no loss.
    /// Ids are per engine; a collision across engines only hides a loss from the count of
    /// downs, never from the count of SAs held at the end.
    replaced_ike: HashSet<IkeSaId>,
    replaced_child: HashSet<ChildSaId>,
    started: Option<Timestamp>,
    next_sample: Option<Timestamp>,
    timeline: Vec<Point>,
}

/// The second JSON line.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub phase: &'static str,
    pub held_s: f64,
    pub child_rekeys: u64,
    pub ike_rekeys: u64,
    pub ike_down: u64,
    pub child_down: u64,
    pub child_failed: u64,
    pub failed_exchanges: u64,
    /// IKE SAs and their CHILD_SAs our engines hold at the end.
    pub ike_sas_held: usize,
    pub child_sas_held: usize,
    pub retransmits: u64,
    pub first_failure: Option<String>,
    pub timeline: Vec<Point>,
}

impl Tally {
    /// Notes one engine event of the hold phase.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::ChildRekeyed { old, .. } => {
                self.child_rekeys += 1;
                self.replaced_child.insert(*old);
            }
            Event::IkeRekeyed { old, .. } => {
                self.ike_rekeys += 1;
                self.replaced_ike.insert(*old);
            }
            Event::IkeDown { sa, reason }
                if !self.replaced_ike.remove(sa) && !matches!(reason, DownReason::Rekeyed) =>
            {
                self.ike_down += 1;
                self.note(format!("IKE_SA down: {}", why(reason)));
            }
            Event::ChildDown { child, reason, .. }
                if !self.replaced_child.remove(child) && !matches!(reason, DownReason::Rekeyed) =>
            {
                self.child_down += 1;
                self.note(format!("CHILD_SA down: {}", why(reason)));
            }
            Event::ChildFailed { reason, .. } => {
                self.child_failed += 1;
                self.note(format!("CHILD_SA failed: {reason}"));
            }
            Event::Log { message, .. } if is_failure_log(message) => {
                self.failed_exchanges += 1;
                self.note(message.clone());
            }
            _ => {}
        }
    }

    fn note(&mut self, why: String) {
        self.first_failure.get_or_insert(why);
    }

    /// Samples the responder when `every` has passed since the last sample; returns when the
    /// next sample is due.
    pub fn tick(&mut self, now: Timestamp, pid: Option<u32>, every: Duration) -> Timestamp {
        let start = *self.started.get_or_insert(now);
        let due = *self.next_sample.get_or_insert(now);
        if now >= due {
            if let Some(s) = pid.and_then(|p| sample(p, 0)) {
                self.timeline.push(Point {
                    t_s: now.saturating_since(start).as_secs_f64(),
                    cpu_ns: s.cpu_ns,
                    rss_kb: s.rss_kb,
                    child_rekeys: self.child_rekeys,
                    ike_rekeys: self.ike_rekeys,
                });
            }
            self.next_sample = Some(Timestamp::from_duration(
                Duration::from_nanos(now.as_nanos()) + every,
            ));
        }
        self.next_sample.unwrap_or(now)
    }

    /// The report, with what the engines hold now.
    pub fn report<'a>(
        &mut self,
        now: Timestamp,
        engines: impl Iterator<Item = &'a Engine>,
    ) -> Report {
        let (mut ike, mut child, mut retransmits) = (0, 0, 0);
        for e in engines {
            retransmits += e.stats().retransmits;
            for sa in e.ike_sas().iter().filter(|sa| sa.established) {
                ike += 1;
                child += sa.children.len();
            }
        }
        Report {
            phase: "hold",
            held_s: self
                .started
                .map_or(0.0, |s| now.saturating_since(s).as_secs_f64()),
            child_rekeys: self.child_rekeys,
            ike_rekeys: self.ike_rekeys,
            ike_down: self.ike_down,
            child_down: self.child_down,
            child_failed: self.child_failed,
            failed_exchanges: self.failed_exchanges,
            ike_sas_held: ike,
            child_sas_held: child,
            retransmits,
            first_failure: self.first_failure.clone(),
            timeline: std::mem::take(&mut self.timeline),
        }
    }
}

/// A log record our engine writes when an exchange fails on either side: the exchange's own
/// failure ("IKE_SA rekeying failed", "failed to establish CHILD_SA") or an error notify
/// received or sent ("received NO_PROPOSAL_CHOSEN notify error", "sending ... notify").
fn is_failure_log(message: &str) -> bool {
    message.contains("failed") || message.contains("notify error")
}

fn why(reason: &DownReason) -> String {
    match reason {
        DownReason::Failed(r) => r.clone(),
        other => format!("{other:?}"),
    }
}
