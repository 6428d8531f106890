//! `ipsec.secrets` as charon's stroke plugin reads it (`stroke_cred.c`), into the model's
//! secrets.
//!
//! Contract: each entry is `[selector ...] : TYPE value` on one line (the `:` must stand alone,
//! so IPv6 selectors keep theirs); `include <glob>` pulls in more files relative to the
//! including one; `#` comments. `PSK` values are `"quoted"` (taken literally), or unquoted
//! (`0x` hex, `0s` base64, else the text); selectors are identities, `%any` standing for any.
//! `RSA`/`ECDSA`/`PKCS8` name a private key file (relative: `ipsec.d/private/` beside
//! ipsec.conf) with an optional passphrase. EAP, XAUTH, NTLM, P12 and PIN entries are located
//! errors: iked has no use for them. Secret text is held in zeroizing buffers only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::diag::{Sink, Span};
use crate::identity::{Identity, parse_identity};
use crate::model::{KeyFileKind, PrivateKeyFile, SecretBytes, SharedSecret, SharedSecretKind};
use crate::syntax::{MAX_FILES, MAX_INCLUDE_DEPTH};

/// What ipsec.secrets held.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub shared: Vec<SharedSecret>,
    pub key_files: Vec<PrivateKeyFile>,
}

/// Reads `path` (and its includes); `private_dir` resolves relative key file names.
pub(crate) fn parse_file(path: &Path, private_dir: &Path, sink: &mut Sink) -> Parsed {
    let mut reader = Reader {
        sink,
        private_dir,
        files: 0,
        depth: 0,
        out: Parsed::default(),
    };
    reader.file(path, None);
    reader.out
}

/// Parses secrets text without a file behind it.
pub(crate) fn parse_text(name: &str, text: &str, private_dir: &Path, sink: &mut Sink) -> Parsed {
    let mut reader = Reader {
        sink,
        private_dir,
        files: 0,
        depth: 0,
        out: Parsed::default(),
    };
    reader.text(&Arc::from(name), None, text);
    reader.out
}

struct Reader<'s> {
    sink: &'s mut Sink,
    private_dir: &'s Path,
    files: usize,
    depth: usize,
    out: Parsed,
}

impl Reader<'_> {
    fn file(&mut self, path: &Path, at: Option<&Span>) {
        let name: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
        let here = at.cloned().unwrap_or_else(|| Span::new(name.clone(), 1, 1));
        self.files += 1;
        if self.files > MAX_FILES || self.depth >= MAX_INCLUDE_DEPTH {
            self.sink
                .error(&here, "too many or too deeply nested includes");
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
        self.depth += 1;
        self.text(&name, path.parent(), text);
        self.depth -= 1;
    }

    fn text(&mut self, name: &Arc<str>, dir: Option<&Path>, text: &str) {
        for (n, line) in text.lines().enumerate() {
            let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
            let span = |column: u32| Span::new(name.clone(), line_no, column);
            let words = match super::parse::split_words(line) {
                Ok(w) => Zeroizing::new(w),
                Err((column, msg)) => {
                    self.sink.error(&span(column), msg);
                    continue;
                }
            };
            let Some((first, column, _)) = words.first() else {
                continue;
            };
            if first == "include" && !line.starts_with([' ', '\t']) {
                match words.get(1) {
                    Some((pattern, c, _)) => self.include(pattern, &span(*c), dir),
                    None => self
                        .sink
                        .error(&span(*column), "include without a file name"),
                }
                continue;
            }
            self.entry(&words, &span);
        }
    }

    fn include(&mut self, pattern: &str, at: &Span, dir: Option<&Path>) {
        let full = match dir {
            Some(dir) if !Path::new(pattern).is_absolute() => dir.join(pattern),
            _ => PathBuf::from(pattern),
        };
        let paths = match glob::glob(&full.to_string_lossy()) {
            Ok(p) => p,
            Err(e) => {
                self.sink.error(at, format!("invalid include pattern: {e}"));
                return;
            }
        };
        let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        files.sort();
        for path in files {
            self.file(&path, Some(at));
        }
    }

    fn entry(&mut self, words: &[(String, u32, bool)], span: &dyn Fn(u32) -> Span) {
        let Some(colon) = words.iter().position(|(w, _, q)| w == ":" && !q) else {
            let column = words.first().map_or(1, |w| w.1);
            self.sink.error(
                &span(column),
                "expected '[selectors] : TYPE secret' (the ':' stands alone)",
            );
            return;
        };
        let (selectors, rest) = words.split_at(colon);
        let Some((kind, kind_column, _)) = rest.get(1) else {
            let column = rest.first().map_or(1, |w| w.1);
            self.sink
                .error(&span(column), "secret type missing after ':'");
            return;
        };
        let kind_span = span(*kind_column);
        let args = rest.get(2..).unwrap_or_default();
        let entry_span = span(words.first().map_or(1, |w| w.1));
        match kind.to_ascii_uppercase().as_str() {
            "PSK" => {
                let mut ids = Vec::new();
                for (text, column, _) in selectors {
                    match parse_identity(text) {
                        // `%any` matches any identity, as no selector does.
                        Ok(Identity::Any) => {}
                        Ok(id) => ids.push(id),
                        Err(e) => {
                            self.sink.error(&span(*column), e);
                            return;
                        }
                    }
                }
                let Some((value, column, quoted)) = args.first() else {
                    self.sink.error(&kind_span, "PSK without a secret");
                    return;
                };
                if let Some((_, c, _)) = args.get(1) {
                    self.sink
                        .error(&span(*c), "unexpected text after the secret (quote it)");
                    return;
                }
                let bytes = if *quoted {
                    Ok(value.as_bytes().to_vec())
                } else {
                    crate::build::decode_secret(value)
                };
                match bytes {
                    Ok(b) if !b.is_empty() => {
                        let n = self.out.shared.len() + 1;
                        self.out.shared.push(SharedSecret {
                            name: format!("ipsec.secrets-psk-{n}"),
                            span: entry_span,
                            kind: SharedSecretKind::Ike,
                            ids,
                            secret: SecretBytes::new(b),
                        });
                    }
                    Ok(_) => self.sink.error(&span(*column), "empty PSK"),
                    Err(e) => self.sink.error(&span(*column), e),
                }
            }
            k @ ("RSA" | "ECDSA" | "PKCS8") => {
                let kind = match k {
                    "RSA" => KeyFileKind::Rsa,
                    "ECDSA" => KeyFileKind::Ecdsa,
                    _ => KeyFileKind::Pkcs8,
                };
                let Some((file, _, _)) = args.first() else {
                    self.sink
                        .error(&kind_span, format!("{k} without a key file name"));
                    return;
                };
                let path = if Path::new(file).is_absolute() {
                    PathBuf::from(file)
                } else {
                    self.private_dir.join(file)
                };
                let passphrase = match args.get(1) {
                    Some((p, c, _)) if p == "%prompt" => {
                        self.sink
                            .error(&span(*c), "%prompt: iked cannot ask for a passphrase");
                        return;
                    }
                    Some((p, _, _)) => Some(SecretBytes::new(p.as_bytes().to_vec())),
                    None => None,
                };
                self.out.key_files.push(PrivateKeyFile {
                    span: entry_span,
                    kind,
                    path,
                    passphrase,
                });
            }
            k @ ("EAP" | "XAUTH" | "NTLM") => self.sink.error(
                &kind_span,
                format!("{k} secrets are not supported by iked (no EAP or XAuth)"),
            ),
            k @ ("P12" | "PIN" | "PKCS12" | "BLISS") => self.sink.error(
                &kind_span,
                format!("{k} entries are not supported by iked (use RSA, ECDSA or PKCS8 files)"),
            ),
            other => self
                .sink
                .error(&kind_span, format!("unknown secret type '{other}'")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Parsed, Vec<String>) {
        let mut sink = Sink::default();
        let p = parse_text("s", text, Path::new("/etc/ipsec.d/private"), &mut sink);
        let (e, w) = sink.split();
        (
            p,
            e.iter().chain(w.iter()).map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn ovs_shapes() {
        let (p, msgs) = parse(
            "# Generated by ovs-monitor-ipsec...do not modify by hand!\n\n\
             %any 10.0.0.2 : PSK \"swordfish # x\"\n%any fd00::2 : PSK 0x0102\n\
             %any 10.0.0.3 : RSA /etc/ovs/key.pem\n: RSA host.key \"pass word\"\n",
        );
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(p.shared.len(), 2);
        assert_eq!(p.shared[0].ids.len(), 1);
        assert_eq!(p.shared[0].ids[0].to_string(), "10.0.0.2");
        assert_eq!(p.shared[0].secret.expose(), b"swordfish # x");
        assert_eq!(p.shared[1].ids[0].to_string(), "fd00::2");
        assert_eq!(p.shared[1].secret.expose(), [1, 2]);
        assert_eq!(p.key_files[0].path, PathBuf::from("/etc/ovs/key.pem"));
        assert_eq!(p.key_files[0].kind, KeyFileKind::Rsa);
        assert_eq!(
            p.key_files[1].path,
            PathBuf::from("/etc/ipsec.d/private/host.key")
        );
        assert_eq!(
            p.key_files[1].passphrase.as_ref().unwrap().expose(),
            b"pass word"
        );
    }

    #[test]
    fn errors_are_located() {
        let (_, msgs) = parse("a b PSK x\n: XAUTH \"p\"\n@x : PSK\n: FOO x\n: RSA k %prompt\n");
        assert_eq!(
            msgs,
            vec![
                "s:1:1: expected '[selectors] : TYPE secret' (the ':' stands alone)",
                "s:2:3: XAUTH secrets are not supported by iked (no EAP or XAuth)",
                "s:3:6: PSK without a secret",
                "s:4:3: unknown secret type 'FOO'",
                "s:5:9: %prompt: iked cannot ask for a passphrase",
            ]
        );
    }
}
