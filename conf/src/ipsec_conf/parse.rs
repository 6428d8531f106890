//! The grammar of strongSwan's legacy `ipsec.conf` (what `starter` reads), into located sections.
//!
//! Contract: a file is a sequence of lines. A line starting in column 1 opens a section
//! (`config setup`, `conn <name>`, `ca <name>`) or is a top-level statement (`include <glob>`,
//! relative to the including file; `version 2`). An indented line is `key=value` inside the
//! current section (blanks around `=` allowed, an empty value clears the key, `"quoted"` values
//! keep blanks and `#`, several unquoted words are joined with one blank as starter's parser
//! does). `#` starts a comment outside quotes. Every problem is a located diagnostic; nothing
//! panics, sizes and include depth are bounded by the swanctl parser's limits.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Sink, Span};
use crate::syntax::{MAX_FILES, MAX_INCLUDE_DEPTH, MAX_VALUE_LEN};

/// `key=value` and where both were written.
#[derive(Clone, Debug)]
pub(crate) struct Kv {
    pub key: String,
    pub key_span: Span,
    pub value: String,
    pub value_span: Span,
}

/// Which kind of section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Setup,
    Conn,
    Ca,
}

/// One section, keys in file order (a repeated key: the later one wins when read).
#[derive(Clone, Debug)]
pub(crate) struct Section {
    pub kind: Kind,
    pub name: String,
    pub span: Span,
    pub keys: Vec<Kv>,
}

impl Section {
    /// The last value given for `key`.
    #[cfg(test)]
    pub(crate) fn get(&self, key: &str) -> Option<&Kv> {
        self.keys.iter().rev().find(|k| k.key == key)
    }
}

/// Reads `path` and its includes.
pub(crate) fn parse_file(path: &Path, sink: &mut Sink, out: &mut Vec<Section>) {
    let mut reader = Reader {
        sink,
        files: 0,
        stack: Vec::new(),
    };
    reader.file(path, None, out);
}

/// Parses text without a file behind it (tests, `ikectl check` of a string); includes must be
/// absolute.
pub(crate) fn parse_text(name: &str, text: &str, sink: &mut Sink, out: &mut Vec<Section>) {
    let mut reader = Reader {
        sink,
        files: 0,
        stack: Vec::new(),
    };
    reader.text(&Arc::from(name), None, text, out);
}

struct Reader<'s> {
    sink: &'s mut Sink,
    files: usize,
    stack: Vec<PathBuf>,
}

/// One token of a line, with its 1-based column.
struct Word {
    text: String,
    column: u32,
    quoted: bool,
}

/// Splits a line into words, `=` being a word of its own; stops at `#` outside quotes.
fn words(line: &str) -> Result<Vec<Word>, (u32, String)> {
    let mut out = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars.get(i).copied().unwrap_or(' ');
        let column = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if c == '#' {
            break;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '=' {
            out.push(Word {
                text: "=".into(),
                column,
                quoted: false,
            });
            i += 1;
            continue;
        }
        if c == '"' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err((column, "unterminated quoted string".into())),
                    Some('"') => break,
                    Some('\\') if chars.get(i + 1) == Some(&'"') => {
                        text.push('"');
                        i += 1;
                    }
                    Some(ch) => text.push(*ch),
                }
                i += 1;
            }
            i += 1;
            out.push(Word {
                text,
                column,
                quoted: true,
            });
            continue;
        }
        let mut text = String::new();
        while let Some(&ch) = chars.get(i) {
            if ch.is_whitespace() || ch == '=' || ch == '#' || ch == '"' {
                break;
            }
            text.push(ch);
            i += 1;
        }
        out.push(Word {
            text,
            column,
            quoted: false,
        });
    }
    Ok(out)
}

impl Reader<'_> {
    fn file(&mut self, path: &Path, at: Option<&Span>, out: &mut Vec<Section>) {
        let name: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
        let here = at.cloned().unwrap_or_else(|| Span::new(name.clone(), 1, 1));
        self.files += 1;
        if self.files > MAX_FILES {
            self.sink
                .error(&here, format!("more than {MAX_FILES} files included"));
            return;
        }
        let bytes = match crate::syntax::read_limited(path) {
            Ok(b) => b,
            Err(e) => {
                self.sink
                    .error(&here, format!("cannot read {}: {e}", path.display()));
                return;
            }
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            self.sink.error(&here, "file is not valid UTF-8");
            return;
        };
        self.stack
            .push(path.canonicalize().unwrap_or_else(|_| path.to_owned()));
        self.text(&name, path.parent(), text, out);
        self.stack.pop();
    }

    fn text(&mut self, name: &Arc<str>, dir: Option<&Path>, text: &str, out: &mut Vec<Section>) {
        // Sections opened in this file; keys attach to the last one (an include ends it, as in
        // starter, where an included file starts at the top level).
        let mut current: Option<usize> = None;
        for (n, line) in text.lines().enumerate() {
            let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
            let span = |column: u32| Span::new(name.clone(), line_no, column);
            let words = match words(line) {
                Ok(w) => w,
                Err((column, msg)) => {
                    self.sink.error(&span(column), msg);
                    continue;
                }
            };
            let Some(first) = words.first() else {
                continue;
            };
            let indented = line.starts_with([' ', '\t']);
            if !indented {
                current = None;
                self.top_level(&words, &span, dir, out, &mut current);
                continue;
            }
            let Some(index) = current else {
                self.sink.error(
                    &span(first.column),
                    "setting outside a section (indented lines belong to the 'config', 'conn' \
                     or 'ca' section above them)",
                );
                continue;
            };
            if let Some(kv) = self.key_value(&words, &span)
                && let Some(section) = out.get_mut(index)
            {
                section.keys.push(kv);
            }
        }
    }

    fn top_level(
        &mut self,
        words: &[Word],
        span: &dyn Fn(u32) -> Span,
        dir: Option<&Path>,
        out: &mut Vec<Section>,
        current: &mut Option<usize>,
    ) {
        let Some(first) = words.first() else {
            return;
        };
        let arg = words.get(1);
        let extra = words.get(2);
        let at = span(first.column);
        if let Some(extra) = extra {
            self.sink
                .error(&span(extra.column), format!("unexpected '{}'", extra.text));
            return;
        }
        let kind = match first.text.as_str() {
            "config" => Some(Kind::Setup),
            "conn" => Some(Kind::Conn),
            "ca" => Some(Kind::Ca),
            "include" => {
                match arg {
                    Some(pattern) => self.include(&pattern.text, &span(pattern.column), dir, out),
                    None => self.sink.error(&at, "include without a file name"),
                }
                return;
            }
            "version" => {
                if !matches!(arg.map(|a| a.text.as_str()), Some("2" | "2.0")) {
                    self.sink
                        .error(&at, "only 'version 2' (or none) is supported");
                }
                return;
            }
            other => {
                self.sink.error(
                    &at,
                    format!(
                        "unknown statement '{other}' (expected 'config setup', 'conn <name>', \
                         'ca <name>' or 'include'; settings must be indented)"
                    ),
                );
                return;
            }
        };
        let Some(name) = arg.filter(|a| !a.text.is_empty() && a.text != "=") else {
            self.sink
                .error(&at, format!("'{}' without a section name", first.text));
            return;
        };
        let kind = kind.unwrap_or(Kind::Conn);
        if kind == Kind::Setup && name.text != "setup" {
            self.sink.error(
                &span(name.column),
                format!("unknown section 'config {}'", name.text),
            );
            return;
        }
        let name_span = span(name.column);
        // A section repeated (in another include, say) continues the first one, later keys
        // winning, as starter merges them.
        if let Some(i) = out
            .iter()
            .position(|s| s.kind == kind && s.name == name.text)
        {
            *current = Some(i);
            return;
        }
        out.push(Section {
            kind,
            name: name.text.clone(),
            span: name_span,
            keys: Vec::new(),
        });
        *current = Some(out.len() - 1);
    }

    fn key_value(&mut self, words: &[Word], span: &dyn Fn(u32) -> Span) -> Option<Kv> {
        let key = words.first()?;
        let key_span = span(key.column);
        if key.quoted || words.get(1).map(|w| w.text.as_str()) != Some("=") {
            self.sink
                .error(&key_span, format!("expected '{}=<value>'", key.text));
            return None;
        }
        let rest = words.get(2..).unwrap_or_default();
        let value_span = rest
            .first()
            .map(|w| span(w.column))
            .unwrap_or_else(|| span(words.get(1).map_or(key.column, |w| w.column)));
        if let Some(eq) = rest.iter().find(|w| w.text == "=" && !w.quoted) {
            self.sink
                .error(&span(eq.column), "unexpected '=' in a value (quote it)");
            return None;
        }
        let value = rest
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if value.len() > MAX_VALUE_LEN {
            self.sink.error(
                &value_span,
                format!("value longer than {MAX_VALUE_LEN} bytes"),
            );
            return None;
        }
        Some(Kv {
            key: key.text.clone(),
            key_span,
            value,
            value_span,
        })
    }

    fn include(&mut self, pattern: &str, at: &Span, dir: Option<&Path>, out: &mut Vec<Section>) {
        let full = match dir {
            Some(dir) if !Path::new(pattern).is_absolute() => dir.join(pattern),
            None if !Path::new(pattern).is_absolute() => {
                self.sink.error(
                    at,
                    "relative include in text that has no directory (use an absolute path)",
                );
                return;
            }
            _ => PathBuf::from(pattern),
        };
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.sink.error(
                at,
                format!("includes nested more than {MAX_INCLUDE_DEPTH} levels deep"),
            );
            return;
        }
        let full_text = full.to_string_lossy().into_owned();
        let paths = match glob::glob(&full_text) {
            Ok(p) => p,
            Err(e) => {
                self.sink
                    .error(at, format!("invalid include pattern '{full_text}': {e}"));
                return;
            }
        };
        let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        files.sort();
        // starter warns and goes on when a pattern matches nothing.
        if files.is_empty() {
            self.sink
                .warning(at, format!("include '{full_text}' matched no file"));
        }
        for path in files {
            let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
            if self.stack.contains(&canonical) {
                self.sink.error(
                    at,
                    format!("include loop: {} includes itself", path.display()),
                );
                continue;
            }
            self.file(&path, Some(at), out);
        }
    }
}

/// Same line splitting for `ipsec.secrets`: exposed for the secrets reader.
/// A word of a line: text, 1-based column, whether it was quoted.
pub(crate) type LineWord = (String, u32, bool);

pub(crate) fn split_words(line: &str) -> Result<Vec<LineWord>, (u32, String)> {
    words(line).map(|w| {
        w.into_iter()
            .map(|w| (w.text, w.column, w.quoted))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Section>, Vec<String>) {
        let mut sink = Sink::default();
        let mut out = Vec::new();
        parse_text("t", text, &mut sink, &mut out);
        let (e, w) = sink.split();
        (
            out,
            e.iter().chain(w.iter()).map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn sections_keys_and_comments() {
        let (s, msgs) = parse(
            "# header\nconfig setup\n    uniqueids=yes\n\nconn %default\n\tkeyingtries = %forever # c\n\
             conn a-1\n    leftid=\"CN=a b, O=#x\"\n    esp=aes256gcm16-modp2048!\n    empty=\n",
        );
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].kind, Kind::Setup);
        assert_eq!(s[1].get("keyingtries").unwrap().value, "%forever");
        assert_eq!(s[1].get("keyingtries").unwrap().value_span.column, 16);
        let a = &s[2];
        assert_eq!(a.name, "a-1");
        assert_eq!(a.get("leftid").unwrap().value, "CN=a b, O=#x");
        assert_eq!(a.get("esp").unwrap().value, "aes256gcm16-modp2048!");
        assert_eq!(a.get("empty").unwrap().value, "");
        assert_eq!(a.get("esp").unwrap().key_span.line, 9);
    }

    #[test]
    fn located_errors() {
        let (_, msgs) = parse("  left=1.2.3.4\nconn\nfoo bar\nconn x\n  left 1\n  l=\"open\n");
        assert_eq!(
            msgs,
            vec![
                "t:1:3: setting outside a section (indented lines belong to the 'config', 'conn' or 'ca' section above them)",
                "t:2:1: 'conn' without a section name",
                "t:3:1: unknown statement 'foo' (expected 'config setup', 'conn <name>', 'ca <name>' or 'include'; settings must be indented)",
                "t:5:3: expected 'left=<value>'",
                "t:6:5: unterminated quoted string",
            ]
        );
    }

    #[test]
    fn includes_relative_and_loops() {
        let dir = std::env::temp_dir().join(format!("iked-ipsecconf-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(
            dir.join("main.conf"),
            "include d/*.conf\nconn z\n  right=2\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("d/a.conf"),
            "conn y\n  right=1\ninclude ../main.conf\n",
        )
        .unwrap();
        let mut sink = Sink::default();
        let mut out = Vec::new();
        parse_file(&dir.join("main.conf"), &mut sink, &mut out);
        let names: Vec<_> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["y", "z"]);
        let (e, _) = sink.split();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].message.contains("include loop"), "{}", e[0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
