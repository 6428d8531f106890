//! Source locations and diagnostics.
//!
//! Contract: every problem the crate reports is a [`Diagnostic`] carrying the
//! [`Span`] (file, 1-based line, 1-based column counted in characters) of the
//! token that caused it, and displays as `file:line:column: message`, the
//! format compilers use so editors can jump to it. Errors are collected, not
//! thrown one at a time, so `ikectl check` can list all of them at once.

use std::fmt;
use std::sync::Arc;

/// A position in a configuration source (a file, or a virtual name such as
/// `vici:load-conn` for text that never lived on disk).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// File name as given to the loader (or the include pattern expansion).
    pub file: Arc<str>,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, counted in characters (not bytes).
    pub column: u32,
}

impl Span {
    /// A span at `line:column` of `file`.
    pub fn new(file: Arc<str>, line: u32, column: u32) -> Self {
        Self { file, line, column }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The configuration still loads; something is ignored or suspicious.
    Warning,
    /// The configuration is rejected.
    Error,
}

/// One located message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// Where the problem is.
    pub span: Span,
    /// Warning or error.
    pub severity: Severity,
    /// Human-readable description (no location prefix).
    pub message: String,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self {
            span,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Self {
            span,
            severity: Severity::Warning,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.span, self.message)
    }
}

/// All errors found while loading a configuration (never empty), plus the
/// warnings seen on the way so a failed `ikectl check` still shows them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.errors))]
pub struct Errors {
    /// The errors, in source order of discovery.
    pub errors: Vec<Diagnostic>,
    /// Warnings collected before or alongside the errors.
    pub warnings: Vec<Diagnostic>,
}

fn render(errors: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&e.to_string());
    }
    out
}

/// Accumulates diagnostics; deduplicates identical ones, which happen when a
/// template section is inherited by several connections.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    items: Vec<Diagnostic>,
    seen: std::collections::HashSet<Diagnostic>,
}

impl Sink {
    pub(crate) fn push(&mut self, d: Diagnostic) {
        if self.seen.insert(d.clone()) {
            self.items.push(d);
        }
    }

    pub(crate) fn error(&mut self, span: &Span, message: impl Into<String>) {
        self.push(Diagnostic::error(span.clone(), message));
    }

    pub(crate) fn warning(&mut self, span: &Span, message: impl Into<String>) {
        self.push(Diagnostic::warning(span.clone(), message));
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// Splits into (errors, warnings), each in discovery order.
    pub(crate) fn split(self) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
        self.items
            .into_iter()
            .partition(|d| d.severity == Severity::Error)
    }
}
