//! strongSwan settings syntax (the format shared by `strongswan.conf` and
//! `swanctl.conf`) into an untyped tree of sections and key/value pairs.
//!
//! Contract: [`parse_file`] / [`parse_text`] accept exactly what strongSwan's
//! flex/bison settings parser (`src/libstrongswan/settings/settings_lexer.l`
//! and `settings_parser.y`) accepts, with these rules:
//! - `name { ... }` sections, `name : ref1, ref2 { ... }` sections that
//!   reference (inherit from) other sections by absolute dotted name,
//!   `key = value` settings, `#` comments, `include pattern` statements.
//! - A value runs to the end of the line (or to `#` / `}`); its whitespace
//!   separated parts are joined by a single space. Quoted parts keep their
//!   whitespace and understand `\n`, `\r`, `\t`, `\<newline>` (line
//!   continuation) and `\x` (literal `x`). `key =` with nothing after it
//!   stores an empty value, which clears an inherited value.
//! - Sections with the same name merge; a later key replaces an earlier one
//!   (keeping the earlier position), exactly like strongSwan.
//! - `include` patterns are shell globs relative to the including file's
//!   directory, expanded in sorted order, and inserted into the section the
//!   statement appears in. A pattern matching nothing is a warning (as in
//!   strongSwan); include loops, too many files and too-deep nesting are
//!   located errors (strongSwan would recurse until it ran out of files).
//!
//! Deviations, all stricter: each included file must have balanced braces;
//! names may not contain control characters; `.` is allowed in section names
//! (the man page's "rare circumstances") but not in keys; values are limited
//! to [`MAX_VALUE_LEN`] bytes, files to [`MAX_FILE_SIZE`], nesting to
//! [`MAX_DEPTH`]. Parsing never panics: every malformed input ends in a
//! located error (the first syntax error of a file stops that file, as
//! bison does).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use zeroize::Zeroizing;

use crate::diag::{Sink, Span};

/// Maximum nesting of sections (including through includes).
pub const MAX_DEPTH: usize = 64;
/// Maximum length of one value in bytes.
pub const MAX_VALUE_LEN: usize = 64 * 1024;
/// Maximum size of one configuration file in bytes.
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;
/// Maximum nesting of include statements.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Maximum number of files one load may read.
pub const MAX_FILES: usize = 4096;

/// A key's value and where it was written.
#[derive(Clone, Debug)]
pub(crate) struct RawKey {
    /// Location of the key name.
    pub key_span: Span,
    /// `None` for `key =` with nothing after it (clears the value).
    pub value: Option<String>,
    /// Location of the first character of the value (the `=` if empty).
    pub value_span: Span,
}

/// A reference from `name : ref { }` to another section by absolute path.
#[derive(Clone, Debug)]
pub(crate) struct Reference {
    pub path: String,
    pub span: Span,
}

/// One section of the untyped tree.
#[derive(Clone, Debug)]
pub(crate) struct RawSection {
    pub name: String,
    /// Where the section was first opened.
    pub span: Span,
    pub refs: Vec<Reference>,
    pub keys: IndexMap<String, RawKey>,
    pub sections: IndexMap<String, RawSection>,
}

impl RawSection {
    pub(crate) fn new(name: impl Into<String>, span: Span) -> Self {
        Self {
            name: name.into(),
            span,
            refs: Vec::new(),
            keys: IndexMap::new(),
            sections: IndexMap::new(),
        }
    }

    /// strongSwan's `settings_kv_add`: replace the value of an existing key
    /// (its position stays), or append.
    fn add_key(&mut self, name: String, key: RawKey) {
        self.keys.insert(name, key);
    }

    /// strongSwan's `settings_section_add`/`extend`: merge a section into an
    /// existing one of the same name, or append it.
    fn add_section(&mut self, section: RawSection) {
        match self.sections.get_mut(&section.name) {
            Some(existing) => existing.extend(section),
            None => {
                self.sections.insert(section.name.clone(), section);
            }
        }
    }

    fn extend(&mut self, other: RawSection) {
        for r in other.refs {
            if !self.refs.iter().any(|existing| existing.path == r.path) {
                self.refs.push(r);
            }
        }
        for (name, key) in other.keys {
            self.add_key(name, key);
        }
        for (_, section) in other.sections {
            self.add_section(section);
        }
    }
}

#[derive(Debug)]
enum Token {
    Name(String, Span),
    LBrace(Span),
    RBrace(Span),
    Comma(Span),
    /// `: a, b.c` — the references after a colon.
    Refs(Vec<Reference>, Span),
    /// `= value` — the whole value, already joined.
    Assign {
        eq_span: Span,
        value: Option<String>,
        value_span: Span,
    },
    Include(String, Span),
    Eof(Span),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Name(n, _) => format!("name '{}'", truncate(n)),
            Token::LBrace(_) => "'{'".into(),
            Token::RBrace(_) => "'}'".into(),
            Token::Comma(_) => "','".into(),
            Token::Refs(..) => "':'".into(),
            Token::Assign { .. } => "'='".into(),
            Token::Include(..) => "include statement".into(),
            Token::Eof(_) => "end of file".into(),
        }
    }

    fn span(&self) -> &Span {
        match self {
            Token::Name(_, s)
            | Token::LBrace(s)
            | Token::RBrace(s)
            | Token::Comma(s)
            | Token::Refs(_, s)
            | Token::Include(_, s)
            | Token::Eof(s) => s,
            Token::Assign { eq_span, .. } => eq_span,
        }
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() > MAX {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    } else {
        s.to_string()
    }
}

/// A located syntax error; the message is reported through the sink.
#[derive(Debug)]
struct SyntaxError;

struct Lexer<'a> {
    file: Arc<str>,
    bytes: &'a [u8],
    pos: usize,
    line: u32,
    column: u32,
}

fn is_name_byte(b: u8) -> bool {
    !matches!(
        b,
        b'#' | b'{' | b'}' | b':' | b',' | b'=' | b'"' | b'\r' | b'\n' | b'\t' | b' '
    )
}

impl<'a> Lexer<'a> {
    fn new(file: Arc<str>, bytes: &'a [u8]) -> Self {
        Self {
            file,
            bytes,
            pos: 0,
            line: 1,
            column: 1,
        }
    }

    fn span(&self) -> Span {
        Span::new(self.file.clone(), self.line, self.column)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        if b == b'\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else if b & 0xC0 != 0x80 {
            // Count characters, not bytes: UTF-8 continuation bytes do not
            // start a new column.
            self.column = self.column.saturating_add(1);
        }
        Some(b)
    }

    fn error(&self, sink: &mut Sink, span: &Span, msg: impl Into<String>) -> SyntaxError {
        sink.error(span, msg);
        SyntaxError
    }

    fn skip_comment(&mut self) {
        while let Some(b) = self.peek() {
            if b == b'\n' {
                break;
            }
            self.bump();
        }
    }

    fn next(&mut self, sink: &mut Sink) -> Result<Token, SyntaxError> {
        loop {
            let Some(b) = self.peek() else {
                return Ok(Token::Eof(self.span()));
            };
            let span = self.span();
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    self.bump();
                }
                b'#' => self.skip_comment(),
                b'{' => {
                    self.bump();
                    return Ok(Token::LBrace(span));
                }
                b'}' => {
                    self.bump();
                    return Ok(Token::RBrace(span));
                }
                b',' => {
                    self.bump();
                    return Ok(Token::Comma(span));
                }
                b':' => {
                    self.bump();
                    let refs = self.references(sink, &span)?;
                    return Ok(Token::Refs(refs, span));
                }
                b'=' => {
                    self.bump();
                    return self.value(sink, span);
                }
                b'"' => {
                    return Err(self.error(
                        sink,
                        &span,
                        "unexpected quoted string (quotes are only allowed in values)",
                    ));
                }
                _ => {
                    if self.at_include() {
                        return self.include(sink, span);
                    }
                    let name = self.name(sink)?;
                    return Ok(Token::Name(name, span));
                }
            }
        }
    }

    /// `include[\t ]+` followed by anything but `=` (flex trailing context).
    fn at_include(&self) -> bool {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        if !rest.starts_with(b"include") {
            return false;
        }
        let mut i = 7;
        while matches!(rest.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i > 7 && rest.get(i).is_some_and(|&b| b != b'=')
    }

    fn name(&mut self, sink: &mut Sink) -> Result<String, SyntaxError> {
        let start_span = self.span();
        let start = self.pos;
        while let Some(b) = self.peek() {
            if !is_name_byte(b) {
                break;
            }
            if b < 0x20 || b == 0x7f {
                let span = self.span();
                return Err(self.error(
                    sink,
                    &span,
                    format!("non-printable character 0x{b:02x} in name"),
                ));
            }
            if self.pos - start >= MAX_VALUE_LEN {
                return Err(self.error(sink, &start_span, "name too long"));
            }
            self.bump();
        }
        match std::str::from_utf8(self.bytes.get(start..self.pos).unwrap_or_default()) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(self.error(sink, &start_span, "name is not valid UTF-8")),
        }
    }

    /// The reference list after `:`; comments and newlines may appear
    /// between references (flex `ref` start condition).
    fn references(&mut self, sink: &mut Sink, colon: &Span) -> Result<Vec<Reference>, SyntaxError> {
        let mut refs = Vec::new();
        let mut expect_name = true;
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    self.bump();
                }
                Some(b'#') => self.skip_comment(),
                Some(b',') if !expect_name => {
                    self.bump();
                    expect_name = true;
                }
                Some(b) if expect_name && is_name_byte(b) => {
                    let span = self.span();
                    let path = self.name(sink)?;
                    if path.split('.').any(str::is_empty) {
                        return Err(self.error(
                            sink,
                            &span,
                            format!("invalid section reference '{}'", truncate(&path)),
                        ));
                    }
                    refs.push(Reference { path, span });
                    expect_name = false;
                }
                _ => break,
            }
        }
        if expect_name {
            let span = if refs.is_empty() {
                colon.clone()
            } else {
                self.span()
            };
            return Err(self.error(sink, &span, "expected a section name to reference"));
        }
        Ok(refs)
    }

    /// The value after `=` (flex `val` start condition).
    fn value(&mut self, sink: &mut Sink, eq_span: Span) -> Result<Token, SyntaxError> {
        let mut parts: Vec<String> = Vec::new();
        let mut total = 0usize;
        let mut first_span: Option<Span> = None;
        while let Some(b) = self.peek() {
            match b {
                b'\r' | b' ' | b'\t' => {
                    self.bump();
                }
                b'\n' | b'#' | b'}' => break,
                b'"' => {
                    let span = self.span();
                    first_span.get_or_insert(span.clone());
                    self.bump();
                    let mut buf = Vec::new();
                    self.string_body(sink, &span, &mut buf)?;
                    total += buf.len() + 1;
                    if total > MAX_VALUE_LEN {
                        return Err(self.error(sink, &span, "value too long"));
                    }
                    parts.push(self.utf8(sink, &span, buf)?);
                }
                _ => {
                    let span = self.span();
                    first_span.get_or_insert(span.clone());
                    let start = self.pos;
                    while let Some(c) = self.peek() {
                        if matches!(c, b'#' | b'}' | b'"' | b'\r' | b'\n' | b'\t' | b' ') {
                            break;
                        }
                        if c == 0 {
                            let span = self.span();
                            return Err(self.error(sink, &span, "NUL byte in value"));
                        }
                        self.bump();
                    }
                    total += self.pos - start + 1;
                    if total > MAX_VALUE_LEN {
                        return Err(self.error(
                            sink,
                            &span,
                            format!("value too long (more than {MAX_VALUE_LEN} bytes)"),
                        ));
                    }
                    let part = self.bytes.get(start..self.pos).unwrap_or_default().to_vec();
                    parts.push(self.utf8(sink, &span, part)?);
                }
            }
        }
        Ok(match first_span {
            None => Token::Assign {
                value: None,
                value_span: eq_span.clone(),
                eq_span,
            },
            Some(value_span) => Token::Assign {
                eq_span,
                value: Some(parts.join(" ")),
                value_span,
            },
        })
    }

    fn utf8(&self, sink: &mut Sink, span: &Span, bytes: Vec<u8>) -> Result<String, SyntaxError> {
        String::from_utf8(bytes).map_err(|_| self.error(sink, span, "value is not valid UTF-8"))
    }

    /// Body of a quoted string, after the opening quote, up to and including
    /// the closing quote (flex `str` start condition).
    fn string_body(
        &mut self,
        sink: &mut Sink,
        open: &Span,
        out: &mut Vec<u8>,
    ) -> Result<(), SyntaxError> {
        loop {
            let Some(b) = self.bump() else {
                return Err(self.error(sink, open, "unterminated quoted string"));
            };
            match b {
                b'"' => return Ok(()),
                b'\r' => {}
                b'\\' => match self.bump() {
                    None => return Err(self.error(sink, open, "unterminated quoted string")),
                    Some(b'n') => out.push(b'\n'),
                    Some(b'r') if self.peek() == Some(b'\n') => {
                        // "\\\r\n": escaped line end, a line continuation.
                        self.bump();
                    }
                    Some(b'r') => out.push(b'\r'),
                    Some(b't') => out.push(b'\t'),
                    Some(b'\n') => {}
                    Some(other) => out.push(other),
                },
                _ => out.push(b),
            }
            if out.len() > MAX_VALUE_LEN {
                return Err(self.error(sink, open, "quoted string too long"));
            }
        }
    }

    /// `include pattern` (flex `inc` start condition).
    fn include(&mut self, sink: &mut Sink, span: Span) -> Result<Token, SyntaxError> {
        for _ in 0..7 {
            self.bump();
        }
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
        let mut pattern = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\n' | b'#' | b'}') => break,
                Some(b' ' | b'\t') => {
                    self.bump();
                    break;
                }
                Some(b'\r') => {
                    self.bump();
                }
                Some(b'"') => {
                    let open = self.span();
                    self.bump();
                    self.string_body(sink, &open, &mut pattern)?;
                    break;
                }
                Some(b'\\') => {
                    self.bump();
                    match self.peek() {
                        Some(c @ (b'"' | b'#' | b'}' | b' ')) => {
                            self.bump();
                            pattern.push(c);
                        }
                        _ => pattern.push(b'\\'),
                    }
                }
                Some(c) => {
                    self.bump();
                    pattern.push(c);
                }
            }
            if pattern.len() > MAX_VALUE_LEN {
                return Err(self.error(sink, &span, "include pattern too long"));
            }
        }
        let pattern = self.utf8(sink, &span, pattern)?;
        Ok(Token::Include(pattern, span))
    }
}

/// Where a source came from, for resolving relative includes.
#[derive(Clone, Debug)]
enum Origin {
    File(PathBuf),
    Virtual,
}

/// Parses sources into one tree, following includes.
pub(crate) struct Parser<'s> {
    sink: &'s mut Sink,
    /// Canonical paths of the files currently being parsed (include stack).
    stack: Vec<PathBuf>,
    files_read: usize,
}

impl<'s> Parser<'s> {
    pub(crate) fn new(sink: &'s mut Sink) -> Self {
        Self {
            sink,
            stack: Vec::new(),
            files_read: 0,
        }
    }

    /// Parses the file at `path` into `root`. Returns false if a syntax
    /// error was reported.
    pub(crate) fn parse_file(&mut self, path: &Path, root: &mut RawSection) -> bool {
        let name: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
        let at = Span::new(name.clone(), 1, 1);
        match read_limited(path) {
            Ok(bytes) => {
                self.parse_source(&name, Origin::File(path.to_path_buf()), &bytes, root, 0)
            }
            Err(msg) => {
                self.sink
                    .error(&at, format!("cannot read {}: {msg}", path.display()));
                false
            }
        }
    }

    /// Parses text that has no file behind it; includes are refused.
    pub(crate) fn parse_text(&mut self, name: &str, text: &[u8], root: &mut RawSection) -> bool {
        let name: Arc<str> = Arc::from(name);
        self.parse_source(&name, Origin::Virtual, text, root, 0)
    }

    fn parse_source(
        &mut self,
        name: &Arc<str>,
        origin: Origin,
        bytes: &[u8],
        target: &mut RawSection,
        depth: usize,
    ) -> bool {
        self.files_read += 1;
        let pushed = match &origin {
            Origin::File(p) => {
                self.stack
                    .push(p.canonicalize().unwrap_or_else(|_| p.clone()));
                true
            }
            Origin::Virtual => false,
        };
        let mut lexer = Lexer::new(name.clone(), bytes);
        let ok = self
            .statements(&mut lexer, &origin, target, depth, None)
            .is_ok();
        if pushed {
            self.stack.pop();
        }
        ok
    }

    /// `statements` of the grammar, until end of file (top level) or the
    /// closing brace of the section opened at `open`.
    fn statements(
        &mut self,
        lexer: &mut Lexer<'_>,
        origin: &Origin,
        target: &mut RawSection,
        depth: usize,
        open: Option<&Span>,
    ) -> Result<(), SyntaxError> {
        loop {
            let token = lexer.next(self.sink)?;
            match token {
                Token::Eof(span) => {
                    return match open {
                        None => Ok(()),
                        Some(open) => {
                            self.sink.error(
                                &span,
                                format!(
                                    "unexpected end of file: section '{}' opened at {}:{} is not closed",
                                    truncate(&target.name),
                                    open.line,
                                    open.column
                                ),
                            );
                            Err(SyntaxError)
                        }
                    };
                }
                Token::RBrace(span) => {
                    return match open {
                        Some(_) => Ok(()),
                        None => {
                            self.sink
                                .error(&span, "unexpected '}' without a matching '{'");
                            Err(SyntaxError)
                        }
                    };
                }
                Token::Include(pattern, span) => {
                    self.include(&pattern, &span, origin, target, depth)?;
                }
                Token::Name(name, name_span) => {
                    let next = lexer.next(self.sink)?;
                    match next {
                        Token::Assign {
                            value, value_span, ..
                        } => {
                            if name.contains('.') {
                                self.sink.error(
                                    &name_span,
                                    format!("'.' is not allowed in key name '{}'", truncate(&name)),
                                );
                                return Err(SyntaxError);
                            }
                            target.add_key(
                                name,
                                RawKey {
                                    key_span: name_span,
                                    value,
                                    value_span,
                                },
                            );
                        }
                        Token::LBrace(brace) => {
                            self.section(
                                lexer,
                                origin,
                                target,
                                depth,
                                name,
                                name_span,
                                Vec::new(),
                                &brace,
                            )?;
                        }
                        Token::Refs(refs, _) => {
                            let brace = lexer.next(self.sink)?;
                            let Token::LBrace(brace) = brace else {
                                self.sink.error(
                                    brace.span(),
                                    format!("unexpected {}, expecting '{{'", brace.describe()),
                                );
                                return Err(SyntaxError);
                            };
                            self.section(
                                lexer, origin, target, depth, name, name_span, refs, &brace,
                            )?;
                        }
                        other => {
                            self.sink.error(
                                other.span(),
                                format!(
                                    "unexpected {} after name '{}', expecting '=', '{{' or ':'",
                                    other.describe(),
                                    truncate(&name)
                                ),
                            );
                            return Err(SyntaxError);
                        }
                    }
                }
                other => {
                    self.sink.error(
                        other.span(),
                        format!(
                            "unexpected {}, expecting a key or section name",
                            other.describe()
                        ),
                    );
                    return Err(SyntaxError);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn section(
        &mut self,
        lexer: &mut Lexer<'_>,
        origin: &Origin,
        target: &mut RawSection,
        depth: usize,
        name: String,
        name_span: Span,
        refs: Vec<Reference>,
        brace: &Span,
    ) -> Result<(), SyntaxError> {
        if depth + 1 > MAX_DEPTH {
            self.sink.error(
                &name_span,
                format!("sections nested more than {MAX_DEPTH} levels deep"),
            );
            return Err(SyntaxError);
        }
        let mut section = RawSection::new(name, name_span);
        section.refs = refs;
        self.statements(lexer, origin, &mut section, depth + 1, Some(brace))?;
        target.add_section(section);
        Ok(())
    }

    fn include(
        &mut self,
        pattern: &str,
        span: &Span,
        origin: &Origin,
        target: &mut RawSection,
        depth: usize,
    ) -> Result<(), SyntaxError> {
        if pattern.is_empty() {
            self.sink
                .warning(span, "no include pattern specified, ignored");
            return Ok(());
        }
        let full = match origin {
            Origin::Virtual if !Path::new(pattern).is_absolute() => {
                self.sink.error(
                    span,
                    "relative include in text that has no directory (use an absolute path)",
                );
                return Err(SyntaxError);
            }
            Origin::Virtual => PathBuf::from(pattern),
            Origin::File(current) => match current.parent() {
                Some(dir) if !Path::new(pattern).is_absolute() => dir.join(pattern),
                _ => PathBuf::from(pattern),
            },
        };
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.sink.error(
                span,
                format!("includes nested more than {MAX_INCLUDE_DEPTH} levels deep"),
            );
            return Err(SyntaxError);
        }
        let full_text = full.to_string_lossy().into_owned();
        let paths = match glob::glob(&full_text) {
            Ok(paths) => paths,
            Err(e) => {
                self.sink
                    .error(span, format!("invalid include pattern '{full_text}': {e}"));
                return Err(SyntaxError);
            }
        };
        let mut matched = false;
        for entry in paths {
            let path = match entry {
                Ok(path) => path,
                Err(e) => {
                    self.sink.error(span, format!("include '{full_text}': {e}"));
                    return Err(SyntaxError);
                }
            };
            matched = true;
            if path.is_dir() {
                self.sink.warning(
                    span,
                    format!("include '{}' is a directory, ignored", path.display()),
                );
                continue;
            }
            let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
            if self.stack.contains(&canonical) {
                self.sink.error(
                    span,
                    format!("include loop: '{}' is already being read", path.display()),
                );
                return Err(SyntaxError);
            }
            if self.files_read >= MAX_FILES {
                self.sink
                    .error(span, format!("more than {MAX_FILES} files included"));
                return Err(SyntaxError);
            }
            let bytes = match read_limited(&path) {
                Ok(bytes) => bytes,
                Err(msg) => {
                    self.sink.error(
                        span,
                        format!("cannot read included file {}: {msg}", path.display()),
                    );
                    return Err(SyntaxError);
                }
            };
            let name: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
            if !self.parse_source(&name, Origin::File(path.clone()), &bytes, target, depth) {
                return Err(SyntaxError);
            }
        }
        if !matched {
            self.sink
                .warning(span, format!("no files found matching '{full_text}'"));
        }
        Ok(())
    }
}

/// Refuses anything but a regular file, naming what it is.
fn regular_file(meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_dir() {
        "a directory"
    } else {
        "of an unknown type"
    };
    Err(format!("it is {kind}, not a regular file"))
}

/// Reads a whole file (bounded); the buffer is wiped on drop because it
/// may hold secrets.
///
/// Only regular files are read. The type is checked before opening because
/// opening a FIFO for reading blocks until some writer appears (a hung
/// `ikectl check`, or a daemon frozen in a SIGHUP reload) and opening a
/// device may have side effects. The open itself is non-blocking and the
/// opened file is checked again, so a path swapped for a FIFO after the
/// first check still cannot block.
pub(crate) fn read_limited(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    regular_file(&std::fs::metadata(path).map_err(|e| e.to_string())?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    regular_file(&file.metadata().map_err(|e| e.to_string())?)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(format!("file larger than {MAX_FILE_SIZE} bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<RawSection>, Vec<String>) {
        let mut sink = Sink::default();
        let mut root = RawSection::new("", Span::new(Arc::from("t"), 1, 1));
        let ok = Parser::new(&mut sink).parse_text("t", text.as_bytes(), &mut root);
        let (e, w) = sink.split();
        let msgs = e.iter().chain(w.iter()).map(|d| d.to_string()).collect();
        (ok.then_some(root), msgs)
    }

    fn value<'a>(root: &'a RawSection, path: &[&str], key: &str) -> Option<&'a str> {
        let mut s = root;
        for p in path {
            s = s.sections.get(*p)?;
        }
        s.keys.get(key)?.value.as_deref()
    }

    #[test]
    fn sections_keys_and_comments() {
        let (root, msgs) = parse("a = b # c\nsec {\n  x = 1 2   3\n  sub { y = z }\n}\n");
        let root = root.unwrap();
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(value(&root, &[], "a"), Some("b"));
        assert_eq!(value(&root, &["sec"], "x"), Some("1 2 3"));
        assert_eq!(value(&root, &["sec", "sub"], "y"), Some("z"));
    }

    #[test]
    fn quoted_strings_and_escapes() {
        let (root, _) =
            parse("a = \"x  y\\n\\t\\\"q\\\\\"\nb = \"multi\nline\"\nc = \"cont\\\nx\"\n");
        let root = root.unwrap();
        assert_eq!(value(&root, &[], "a"), Some("x  y\n\t\"q\\"));
        assert_eq!(value(&root, &[], "b"), Some("multi\nline"));
        assert_eq!(value(&root, &[], "c"), Some("contx"));
    }

    #[test]
    fn empty_value_is_none_and_empty_string_is_some() {
        let (root, _) = parse("a =\nb = \"\"\n");
        let root = root.unwrap();
        assert!(root.keys["a"].value.is_none());
        assert_eq!(value(&root, &[], "b"), Some(""));
    }

    #[test]
    fn later_definitions_merge() {
        let (root, _) = parse("s { a = 1\n b = 2 }\ns { a = 3\n t { c = 4 } }\n");
        let root = root.unwrap();
        let s = &root.sections["s"];
        assert_eq!(s.keys.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(value(&root, &["s"], "a"), Some("3"));
        assert_eq!(value(&root, &["s", "t"], "c"), Some("4"));
    }

    #[test]
    fn references_and_section_on_next_line() {
        let (root, msgs) = parse("c : a.b, d # comment\n,e\n{\n}\nn\n{ k = v }\n");
        let root = root.unwrap();
        assert!(msgs.is_empty(), "{msgs:?}");
        let refs: Vec<_> = root.sections["c"]
            .refs
            .iter()
            .map(|r| r.path.as_str())
            .collect();
        assert_eq!(refs, ["a.b", "d", "e"]);
        assert_eq!(value(&root, &["n"], "k"), Some("v"));
    }

    #[test]
    fn value_stops_at_brace_and_hash() {
        let (root, _) = parse("s { a = b }\nt { c = d#x\n}\n");
        let root = root.unwrap();
        assert_eq!(value(&root, &["s"], "a"), Some("b"));
        assert_eq!(value(&root, &["t"], "c"), Some("d"));
    }

    #[test]
    fn include_as_key_name() {
        let (root, _) = parse("include = x\n");
        assert_eq!(value(&root.unwrap(), &[], "include"), Some("x"));
    }

    #[test]
    fn errors_are_located() {
        for (text, expect) in [
            (
                "a {\n b = c\n",
                "t:3:1: unexpected end of file: section 'a' opened at 1:3",
            ),
            ("}\n", "t:1:1: unexpected '}'"),
            ("a b\n", "t:1:3: unexpected name 'b' after name 'a'"),
            ("a = \"abc\n", "t:1:5: unterminated quoted string"),
            ("\"x\" = 1\n", "t:1:1: unexpected quoted string"),
            ("a : { }\n", "t:1:3: expected a section name"),
            ("x.y = 1\n", "t:1:1: '.' is not allowed in key name"),
            ("a\u{1}b = 1\n", "t:1:2: non-printable character 0x01"),
            ("  = 1\n", "t:1:3: unexpected '='"),
            ("include foo\n", "t:1:1: relative include"),
        ] {
            let (root, msgs) = parse(text);
            assert!(root.is_none(), "{text:?} parsed");
            assert!(msgs[0].starts_with(expect), "{text:?}: {msgs:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "a {".repeat(10_000);
        let (root, msgs) = parse(&text);
        assert!(root.is_none());
        assert!(msgs[0].contains("nested more than 64"), "{msgs:?}");
    }

    #[test]
    fn columns_count_characters() {
        let (_, msgs) = parse("ä = 1\nö ü\n");
        assert!(msgs[0].starts_with("t:2:3:"), "{msgs:?}");
    }

    #[test]
    fn huge_value_is_rejected() {
        let text = format!("a = {}\n", "x".repeat(MAX_VALUE_LEN + 10));
        let (root, msgs) = parse(&text);
        assert!(root.is_none());
        assert!(msgs[0].starts_with("t:1:5: value too long"), "{msgs:?}");
    }
}
