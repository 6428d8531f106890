//! `iked-conf`: strongSwan `swanctl.conf` compatibility for iked.
//!
//! Contract:
//! - [`load_file`] reads a swanctl.conf (following `include`s, relative to
//!   the including file), [`load_str`] parses text under a virtual file name
//!   (VICI `load-conn`, tests; includes must then be absolute). Both return a
//!   validated [`Config`] plus warnings, or [`Errors`] holding *all* errors
//!   found (and the warnings), each located as `file:line:column`.
//! - The pipeline is: [`syntax`] (strongSwan's settings grammar into a raw
//!   tree, merging repeated sections) → [`resolve`] (section references,
//!   `name : template { }`) → `build` (typed model, strongSwan defaults,
//!   validation, the BlueField packet-offload rules).
//! - Parsing never panics and never trusts sizes: file size, value length,
//!   section nesting, include depth and reference expansion are bounded, and
//!   each bound produces a located error. Outside tests the crate denies
//!   `unwrap`, `expect`, `panic!` and indexing (clippy); its arithmetic is on
//!   bounded line, column and size counters and is not linted.
//! - Secret values are copied into zeroizing buffers; the raw text of the
//!   `secrets` section and the file buffers are wiped after loading.
//! - [`SettingsBuilder`] feeds already-structured settings (VICI messages)
//!   through the same validation.
//! - [`summary`] renders a short description for `ikectl check`.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod addr;
mod build;
pub mod diag;
pub mod identity;
pub mod ipsec_conf;
pub mod model;
pub mod resolve;
pub mod strongswan;
mod summary;
pub mod syntax;
pub mod values;

use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroize;

pub use diag::{Diagnostic, Errors, Severity, Span};
pub use model::*;
pub use summary::summary;

/// strongSwan's default swanctl.conf location.
pub const DEFAULT_PATH: &str = "/etc/swanctl/swanctl.conf";

/// A successfully loaded configuration and the warnings seen on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Warnings (unknown keys, ignored settings, offload hints...).
    pub warnings: Vec<Diagnostic>,
}

/// Loads and validates the swanctl.conf at `path`.
///
/// A file named `ipsec.conf` is read as strongSwan's legacy format instead (see
/// [`ipsec_conf`]), with the `ipsec.secrets` beside it; a refused connection then fails the
/// load.
pub fn load_file(path: impl AsRef<Path>) -> Result<Loaded, Errors> {
    let path = path.as_ref();
    if ipsec_conf::is_ipsec_conf(path) {
        let per_conn = ipsec_conf::load_file_per_conn(path)?;
        if !per_conn.refused.is_empty() {
            return Err(Errors {
                errors: per_conn.refused.into_iter().flat_map(|(_, e)| e).collect(),
                warnings: per_conn.warnings,
            });
        }
        return Ok(Loaded {
            config: per_conn.config,
            warnings: per_conn.warnings,
        });
    }
    let mut sink = diag::Sink::default();
    let mut root = root_section(&path.to_string_lossy());
    let ok = syntax::Parser::new(&mut sink).parse_file(path, &mut root);
    finish(ok, root, sink)
}

/// A file loaded connection by connection (see [`load_file_per_conn`]).
#[derive(Debug)]
pub struct LoadedPerConn {
    /// The valid part: every connection without errors, and the secrets and authorities.
    pub config: Config,
    /// Connections refused, by name in file order, with their located errors.
    pub refused: Vec<(String, Vec<Diagnostic>)>,
    /// Warnings (of the whole file, refused connections included).
    pub warnings: Vec<Diagnostic>,
}

/// Loads the swanctl.conf at `path` the way `swanctl --load-conns` feeds charon: the file as a
/// whole must parse (a syntax error, an unresolvable reference or an invalid secret or
/// authority fails it all, nothing in it can be trusted), but each connection is validated on
/// its own, so one invalid connection is refused without taking the others with it.
/// A file named `ipsec.conf` is read as strongSwan's legacy format (see [`ipsec_conf`]).
pub fn load_file_per_conn(path: impl AsRef<Path>) -> Result<LoadedPerConn, Errors> {
    let path = path.as_ref();
    if ipsec_conf::is_ipsec_conf(path) {
        return ipsec_conf::load_file_per_conn(path);
    }
    let mut sink = diag::Sink::default();
    let mut root = root_section(&path.to_string_lossy());
    let parsed = syntax::Parser::new(&mut sink).parse_file(path, &mut root);
    let mut refused = Vec::new();
    let config = if parsed && !sink.has_errors() {
        let (node, templates) = resolve::resolve(&root, &mut sink);
        if sink.has_errors() {
            None
        } else {
            Some(build::build_split(
                &node,
                &templates,
                &mut sink,
                Some(&mut refused),
            ))
        }
    } else {
        None
    };
    wipe_secrets(&mut root);
    let has_errors = sink.has_errors();
    let (errors, warnings) = sink.split();
    match config {
        Some(config) if !has_errors => Ok(LoadedPerConn {
            config,
            refused,
            warnings,
        }),
        _ => Err(Errors { errors, warnings }),
    }
}

/// Loads and validates configuration text; `name` is used in locations.
pub fn load_str(name: &str, text: &str) -> Result<Loaded, Errors> {
    load_bytes(name, text.as_bytes())
}

/// Like [`load_str`] for bytes that may not be UTF-8 (invalid UTF-8 in a
/// name or value is a located error).
pub fn load_bytes(name: &str, bytes: &[u8]) -> Result<Loaded, Errors> {
    let mut sink = diag::Sink::default();
    let mut root = root_section(name);
    let ok = syntax::Parser::new(&mut sink).parse_text(name, bytes, &mut root);
    finish(ok, root, sink)
}

/// Builds a settings tree without text, for callers that already have
/// structure (VICI `load-conn` messages: sections, keys and lists). Each
/// assignment gets its own pseudo line number so diagnostics stay
/// distinguishable (`vici:7:1: invalid mobike: ...`).
#[derive(Debug)]
pub struct SettingsBuilder {
    name: Arc<str>,
    root: syntax::RawSection,
    next_line: u32,
}

impl SettingsBuilder {
    /// An empty tree; `source` names it in diagnostics.
    pub fn new(source: &str) -> Self {
        Self {
            name: Arc::from(source),
            root: root_section(source),
            next_line: 1,
        }
    }

    fn span(&mut self) -> Span {
        let span = Span::new(self.name.clone(), self.next_line, 1);
        self.next_line = self.next_line.saturating_add(1);
        span
    }

    fn section_mut(&mut self, path: &[&str], span: &Span) -> &mut syntax::RawSection {
        let mut s = &mut self.root;
        for part in path {
            s = s
                .sections
                .entry((*part).to_string())
                .or_insert_with(|| syntax::RawSection::new(*part, span.clone()));
        }
        s
    }

    /// Makes sure the section at `path` exists (e.g. an empty `local`).
    pub fn section(&mut self, path: &[&str]) -> &mut Self {
        let span = self.span();
        self.section_mut(path, &span);
        self
    }

    /// Sets `key` in the section at `path` (created as needed). A VICI list
    /// is passed as its items joined with `", "`.
    pub fn set(&mut self, path: &[&str], key: &str, value: &str) -> &mut Self {
        let span = self.span();
        self.section_mut(path, &span).keys.insert(
            key.to_string(),
            syntax::RawKey {
                key_span: span.clone(),
                value: Some(value.to_string()),
                value_span: span,
            },
        );
        self
    }

    /// Validates the tree like a loaded file.
    pub fn load(self) -> Result<Loaded, Errors> {
        finish(true, self.root, diag::Sink::default())
    }
}

fn root_section(name: &str) -> syntax::RawSection {
    syntax::RawSection::new("", Span::new(Arc::from(name), 1, 1))
}

fn finish(
    parsed: bool,
    mut root: syntax::RawSection,
    mut sink: diag::Sink,
) -> Result<Loaded, Errors> {
    let config = if parsed {
        let (node, templates) = resolve::resolve(&root, &mut sink);
        Some(build::build(&node, &templates, &mut sink))
    } else {
        None
    };
    wipe_secrets(&mut root);
    let has_errors = sink.has_errors();
    let (errors, warnings) = sink.split();
    match config {
        Some(config) if !has_errors => Ok(Loaded { config, warnings }),
        _ => Err(Errors { errors, warnings }),
    }
}

/// Overwrites the raw text of everything under `secrets` (the typed model
/// holds its own zeroizing copies).
fn wipe_secrets(root: &mut syntax::RawSection) {
    fn wipe(section: &mut syntax::RawSection) {
        for key in section.keys.values_mut() {
            if let Some(v) = key.value.as_mut() {
                v.zeroize();
            }
        }
        for sub in section.sections.values_mut() {
            wipe(sub);
        }
    }
    if let Some(secrets) = root.sections.get_mut("secrets") {
        wipe(secrets);
    }
}
