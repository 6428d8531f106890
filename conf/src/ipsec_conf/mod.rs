//! strongSwan's legacy configuration, `ipsec.conf` and `ipsec.secrets` (what `starter` and the
//! stroke plugin read, and what Open vSwitch's `ovs-monitor-ipsec` writes), onto the same
//! typed model as swanctl.conf.
//!
//! Contract:
//! - [`is_ipsec_conf`] tells the two formats apart by file name (`ipsec.conf`, or a name
//!   ending in `.ipsec.conf`), so every loader of the daemon takes either.
//! - [`load_file_per_conn`] reads `ipsec.conf` (with `include`s) and the `ipsec.secrets` beside
//!   it (absent: no secrets), and returns what [`crate::load_file_per_conn`] returns for
//!   swanctl.conf: the valid connections, the refused ones with their located errors, the
//!   secrets and authorities. A syntax error, an unknown keyword or a bad secret fails the
//!   whole load, located as `file:line:column`.
//! - Conns whose IKE side is equal become one connection with several children, named after
//!   the first, as charon's stroke plugin merges them (see `map::add_conn`).
//! - The mapping is in [`map`]; the grammar in [`parse`] and [`secrets`]. Relative certificate
//!   and key names resolve against `ipsec.d/{certs,cacerts,private}` beside ipsec.conf.

mod map;
mod parse;
mod secrets;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Sink, Span};
use crate::{Errors, Loaded, LoadedPerConn};

/// Whether `path` names an ipsec.conf rather than a swanctl.conf.
pub fn is_ipsec_conf(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "ipsec.conf" || n.ends_with(".ipsec.conf"))
}

/// The `ipsec.secrets` that belongs to an ipsec.conf: beside it.
pub fn secrets_path(conf: &Path) -> PathBuf {
    conf.with_file_name("ipsec.secrets")
}

/// The `ipsec.d` directory of an ipsec.conf: beside it.
pub fn ipsec_d(conf: &Path) -> PathBuf {
    conf.with_file_name("ipsec.d")
}

/// Loads `ipsec.conf` and its `ipsec.secrets`, connection by connection (see the module docs).
pub fn load_file_per_conn(path: &Path) -> Result<LoadedPerConn, Errors> {
    let mut sink = Sink::default();
    let mut sections = Vec::new();
    parse::parse_file(path, &mut sink, &mut sections);
    let secrets_file = secrets_path(path);
    let ipsec_d = ipsec_d(path);
    let parsed_secrets = if secrets_file.exists() {
        secrets::parse_file(&secrets_file, &ipsec_d.join("private"), &mut sink)
    } else {
        secrets::Parsed::default()
    };
    build(&sections, parsed_secrets, &ipsec_d, path, sink)
}

/// Loads ipsec.conf and ipsec.secrets text (tests, tools); `ipsec_d` resolves relative names.
pub fn load_str(
    conf_name: &str,
    conf: &str,
    secrets_text: &str,
    ipsec_d: &Path,
) -> Result<Loaded, Errors> {
    let mut sink = Sink::default();
    let mut sections = Vec::new();
    parse::parse_text(conf_name, conf, &mut sink, &mut sections);
    let parsed = secrets::parse_text(
        &format!("{conf_name}.secrets"),
        secrets_text,
        &ipsec_d.join("private"),
        &mut sink,
    );
    let per_conn = build(&sections, parsed, ipsec_d, Path::new(conf_name), sink)?;
    if !per_conn.refused.is_empty() {
        return Err(Errors {
            errors: per_conn.refused.into_iter().flat_map(|(_, e)| e).collect(),
            warnings: per_conn.warnings,
        });
    }
    Ok(Loaded {
        config: per_conn.config,
        warnings: per_conn.warnings,
    })
}

fn build(
    sections: &[parse::Section],
    parsed_secrets: secrets::Parsed,
    ipsec_d: &Path,
    path: &Path,
    mut sink: Sink,
) -> Result<LoadedPerConn, Errors> {
    let mut root = crate::syntax::RawSection::new(
        "",
        Span::new(Arc::from(path.to_string_lossy().as_ref()), 1, 1),
    );
    map::map(sections, ipsec_d, &mut root, &mut sink);
    let mut refused = Vec::new();
    let config = if sink.has_errors() {
        None
    } else {
        let (node, templates) = crate::resolve::resolve(&root, &mut sink);
        (!sink.has_errors())
            .then(|| crate::build::build_split(&node, &templates, &mut sink, Some(&mut refused)))
    };
    let has_errors = sink.has_errors();
    let (errors, warnings) = sink.split();
    match config {
        Some(mut config) if !has_errors => {
            config.secrets.shared.extend(parsed_secrets.shared);
            config.secrets.key_files.extend(parsed_secrets.key_files);
            Ok(LoadedPerConn {
                config,
                refused,
                warnings,
            })
        }
        _ => Err(Errors { errors, warnings }),
    }
}

#[cfg(test)]
mod tests;
