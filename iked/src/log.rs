//! charon-style logging: every record belongs to a subsystem (`IKE`, `ENC`, `NET`, `CFG`, `KNL`,
//! `CHD`, ...) and has a charon level (0 basic, 1 audit, 2 control, 3 raw, 4 private; -1
//! silences a subsystem). Levels are set per subsystem and can change at runtime.
//!
//! Contract:
//! - Code logs with `tracing`; the subsystem is the event's `target` when it names a subsystem
//!   (`tracing::info!(target: "IKE", ...)`), otherwise it is derived from the module path
//!   (`iked_ike::wire` -> ENC, `iked_ike` -> IKE, `iked_xfrm` -> KNL, `iked_conf` -> CFG, ...).
//! - tracing levels map to charon levels: ERROR/WARN -> 0, INFO -> 1, DEBUG -> 2, TRACE -> 3.
//! - Lines go to stderr as `00[IKE] <conn|id> message` (journald adds time and unit, as with charon's
//!   `stderr` logger under systemd). Each record is also offered to the daemon core (bounded
//!   queue, dropped when full so logging never blocks) for the VICI `log`/`control-log` events.
//! - Fields named `ike` (IKE_SA config name) and `ike_id` (unique id) tie a record to an SA.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// charon's debug groups, in charon's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    Dmn,
    Mgr,
    Ike,
    Chd,
    Job,
    Cfg,
    Knl,
    Net,
    Asn,
    Enc,
    Tnc,
    Imc,
    Imv,
    Pts,
    Tls,
    App,
    Esp,
    Lib,
}

impl Group {
    pub const ALL: [Group; 18] = [
        Group::Dmn,
        Group::Mgr,
        Group::Ike,
        Group::Chd,
        Group::Job,
        Group::Cfg,
        Group::Knl,
        Group::Net,
        Group::Asn,
        Group::Enc,
        Group::Tnc,
        Group::Imc,
        Group::Imv,
        Group::Pts,
        Group::Tls,
        Group::App,
        Group::Esp,
        Group::Lib,
    ];

    pub fn tag(self) -> &'static str {
        match self {
            Group::Dmn => "DMN",
            Group::Mgr => "MGR",
            Group::Ike => "IKE",
            Group::Chd => "CHD",
            Group::Job => "JOB",
            Group::Cfg => "CFG",
            Group::Knl => "KNL",
            Group::Net => "NET",
            Group::Asn => "ASN",
            Group::Enc => "ENC",
            Group::Tnc => "TNC",
            Group::Imc => "IMC",
            Group::Imv => "IMV",
            Group::Pts => "PTS",
            Group::Tls => "TLS",
            Group::App => "APP",
            Group::Esp => "ESP",
            Group::Lib => "LIB",
        }
    }

    /// Parses a group tag case-insensitively (`ike`, `IKE`).
    pub fn from_tag(tag: &str) -> Option<Group> {
        Group::ALL
            .into_iter()
            .find(|g| g.tag().eq_ignore_ascii_case(tag))
    }

    fn index(self) -> usize {
        Group::ALL.iter().position(|g| *g == self).unwrap_or(0)
    }

    /// The subsystem of a tracing target (see the module contract).
    pub fn of_target(target: &str) -> Group {
        if let Some(group) = Group::from_tag(target) {
            return group;
        }
        const BY_PREFIX: &[(&str, Group)] = &[
            ("iked_ike::wire", Group::Enc),
            ("iked_ike", Group::Ike),
            ("iked_xfrm", Group::Knl),
            ("iked_conf", Group::Cfg),
            ("iked_crypto", Group::Lib),
            ("iked::vici", Group::Cfg),
            ("iked::net", Group::Net),
            ("iked::kernel", Group::Knl),
            ("iked::config", Group::Cfg),
        ];
        BY_PREFIX
            .iter()
            .find(|(prefix, _)| target.starts_with(prefix))
            .map(|(_, g)| *g)
            .unwrap_or(Group::Dmn)
    }
}

/// charon level of a tracing level.
pub fn charon_level(level: &Level) -> i8 {
    match *level {
        Level::ERROR | Level::WARN => 0,
        Level::INFO => 1,
        Level::DEBUG => 2,
        Level::TRACE => 3,
    }
}

/// Per-subsystem levels (charon's `default = 1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Levels([i8; 18]);

impl Default for Levels {
    fn default() -> Self {
        Levels([1; 18])
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LevelsError {
    #[error("unknown log subsystem {0:?}")]
    UnknownGroup(String),
    #[error("log level {0:?} is not a number from -1 to 4")]
    BadLevel(String),
    #[error("expected GROUP=LEVEL, got {0:?}")]
    Syntax(String),
}

impl Levels {
    pub fn get(&self, group: Group) -> i8 {
        self.0[group.index()]
    }

    pub fn set(&mut self, group: Group, level: i8) {
        self.0[group.index()] = level;
    }

    /// Sets every subsystem (charon's `default = N`).
    pub fn set_all(&mut self, level: i8) {
        self.0 = [level; 18];
    }

    /// Applies `default=1,ike=2,knl=-1` style settings, left to right.
    pub fn apply(&mut self, spec: &str) -> Result<(), LevelsError> {
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, level) = part
                .split_once('=')
                .ok_or_else(|| LevelsError::Syntax(part.to_owned()))?;
            let level: i8 = level
                .trim()
                .parse()
                .ok()
                .filter(|l| (-1..=4).contains(l))
                .ok_or_else(|| LevelsError::BadLevel(level.to_owned()))?;
            let name = name.trim();
            if name.eq_ignore_ascii_case("default") {
                self.set_all(level);
            } else {
                let group =
                    Group::from_tag(name).ok_or_else(|| LevelsError::UnknownGroup(name.into()))?;
                self.set(group, level);
            }
        }
        Ok(())
    }

    pub fn enabled(&self, group: Group, level: i8) -> bool {
        level <= self.get(group)
    }
}

/// One formatted log record, as the core forwards it over VICI.
#[derive(Clone, Debug)]
pub struct LogRecord {
    pub group: Group,
    pub level: i8,
    pub ike_name: Option<String>,
    pub ike_id: Option<u64>,
    pub message: String,
}

/// Runtime handle to change levels (SIGHUP, `reload-settings`).
#[derive(Clone, Debug, Default)]
pub struct LogControl {
    levels: Arc<RwLock<Levels>>,
}

impl LogControl {
    pub fn set_levels(&self, levels: Levels) {
        if let Ok(mut l) = self.levels.write() {
            *l = levels;
        }
    }

    pub fn levels(&self) -> Levels {
        self.levels.read().map(|l| l.clone()).unwrap_or_default()
    }
}

/// The tracing layer that formats and routes records.
pub struct CharonLayer {
    levels: Arc<RwLock<Levels>>,
    records: Option<mpsc::Sender<LogRecord>>,
}

impl CharonLayer {
    pub fn new(control: &LogControl, records: Option<mpsc::Sender<LogRecord>>) -> Self {
        Self {
            levels: control.levels.clone(),
            records,
        }
    }

    fn allows(&self, metadata: &Metadata<'_>) -> bool {
        let group = Group::of_target(metadata.target());
        self.levels
            .read()
            .map(|l| l.enabled(group, charon_level(metadata.level())))
            .unwrap_or(true)
    }
}

#[derive(Default)]
struct RecordVisitor {
    message: String,
    extra: String,
    ike_name: Option<String>,
    ike_id: Option<u64>,
}

impl Visit for RecordVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "ike" => self.ike_name = Some(format!("{value:?}").trim_matches('"').to_owned()),
            "ike_id" => self.ike_id = format!("{value:?}").parse().ok(),
            name => {
                let _ = write!(self.extra, " {name}={value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "ike" => self.ike_name = Some(value.to_owned()),
            name => {
                let _ = write!(self.extra, " {name}={value}");
            }
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "ike_id" => self.ike_id = Some(value),
            name => {
                let _ = write!(self.extra, " {name}={value}");
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for CharonLayer {
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.allows(metadata)
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if !self.allows(metadata) {
            return;
        }
        let mut visitor = RecordVisitor::default();
        event.record(&mut visitor);
        let group = Group::of_target(metadata.target());
        let message = format!("{}{}", visitor.message, visitor.extra);
        // One write per line so concurrent writers never interleave within a line.
        let sa_prefix = match (&visitor.ike_name, visitor.ike_id) {
            (Some(name), Some(id)) if !name.is_empty() && id != 0 => format!("<{name}|{id}> "),
            (Some(name), _) if !name.is_empty() => format!("<{name}> "),
            _ => String::new(),
        };
        let line = format!("00[{}] {sa_prefix}{message}\n", group.tag());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        if let Some(records) = &self.records {
            let _ = records.try_send(LogRecord {
                group,
                level: charon_level(metadata.level()),
                ike_name: visitor.ike_name,
                ike_id: visitor.ike_id,
                message,
            });
        }
    }
}

/// Installs the global subscriber. Returns the level control and, when `forward` is set, the
/// receiving end of the record queue for the daemon core.
pub fn init(levels: Levels, forward: bool) -> (LogControl, Option<mpsc::Receiver<LogRecord>>) {
    use tracing_subscriber::layer::SubscriberExt;
    let control = LogControl::default();
    control.set_levels(levels);
    let (tx, rx) = if forward {
        let (tx, rx) = mpsc::channel(1024);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let subscriber = tracing_subscriber::registry().with(CharonLayer::new(&control, tx));
    let _ = tracing::subscriber::set_global_default(subscriber);
    (control, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_from_targets() {
        assert_eq!(Group::of_target("IKE"), Group::Ike);
        assert_eq!(Group::of_target("knl"), Group::Knl);
        assert_eq!(Group::of_target("iked_ike::wire::payload"), Group::Enc);
        assert_eq!(Group::of_target("iked_ike::sa"), Group::Ike);
        assert_eq!(Group::of_target("iked_xfrm::client"), Group::Knl);
        assert_eq!(Group::of_target("something_else"), Group::Dmn);
    }

    #[test]
    fn levels_apply_in_order() {
        let mut levels = Levels::default();
        levels.apply("default=0, ike=2,KNL=-1").unwrap();
        assert_eq!(levels.get(Group::Ike), 2);
        assert_eq!(levels.get(Group::Knl), -1);
        assert_eq!(levels.get(Group::Net), 0);
        assert!(levels.enabled(Group::Ike, 2));
        assert!(!levels.enabled(Group::Ike, 3));
        assert!(!levels.enabled(Group::Knl, 0));
        assert_eq!(
            levels.apply("foo=1"),
            Err(LevelsError::UnknownGroup("foo".into()))
        );
        assert_eq!(
            levels.apply("ike=9"),
            Err(LevelsError::BadLevel("9".into()))
        );
        assert_eq!(levels.apply("ike"), Err(LevelsError::Syntax("ike".into())));
    }

    #[test]
    fn records_reach_the_queue_with_sa_fields() {
        use tracing_subscriber::layer::SubscriberExt;
        let control = LogControl::default();
        let mut levels = Levels::default();
        levels.set(Group::Net, -1);
        control.set_levels(levels);
        let (tx, mut rx) = mpsc::channel(8);
        let subscriber = tracing_subscriber::registry().with(CharonLayer::new(&control, Some(tx)));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "IKE", ike = "BFL-BFR", ike_id = 7u64, "IKE_SA established");
            tracing::info!(target: "NET", "silenced");
            tracing::debug!(target: "CFG", "above level 1");
        });
        let record = rx.try_recv().unwrap();
        assert_eq!(record.group, Group::Ike);
        assert_eq!(record.level, 1);
        assert_eq!(record.ike_name.as_deref(), Some("BFL-BFR"));
        assert_eq!(record.ike_id, Some(7));
        assert_eq!(record.message, "IKE_SA established");
        assert!(
            rx.try_recv().is_err(),
            "NET is silenced and CFG debug exceeds level 1"
        );
    }
}
