//! `load_file_per_conn`: each connection is validated on its own (charon's `load-conn` per
//! connection), while anything that makes the file as a whole untrustworthy fails it all.

use std::path::PathBuf;

fn write(tag: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iked-conf-per-conn-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("swanctl.conf");
    std::fs::write(&path, text).unwrap();
    path
}

const GOOD: &str = "    local_addrs = 127.0.0.1\n    remote_addrs = 127.0.0.2\n    \
                    local { auth = psk }\n    remote { auth = psk }\n    \
                    children { c { esp_proposals = aes128gcm128 } }\n";

#[test]
fn an_invalid_connection_is_refused_alone() {
    let text = format!(
        "connections {{\n  a {{\n{GOOD}  }}\n  b {{\n{GOOD}    version = 9\n  }}\n  c {{\n{GOOD}  }}\n}}\n"
    );
    let path = write("alone", &text);
    let loaded = iked_conf::load_file_per_conn(&path).expect("the file parses");
    let names: Vec<&str> = loaded
        .config
        .connections
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(loaded.refused.len(), 1);
    assert_eq!(loaded.refused[0].0, "b");
    let why = loaded.refused[0].1[0].to_string();
    assert!(
        why.contains("swanctl.conf:") && why.contains("version"),
        "{why}"
    );
    // The whole-file loader still refuses the file.
    assert!(iked_conf::load_file(&path).is_err());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn an_invalid_template_refuses_every_connection_using_it() {
    let text = format!(
        "connections {{\n  a : tpl {{\n{GOOD}  }}\n  b {{\n{GOOD}  }}\n}}\ntpl {{\n  version = 9\n}}\n"
    );
    let path = write("tpl", &text);
    let loaded = iked_conf::load_file_per_conn(&path).expect("the file parses");
    let names: Vec<&str> = loaded
        .config
        .connections
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["b"]);
    assert_eq!(loaded.refused.len(), 1);
    assert_eq!(loaded.refused[0].0, "a");
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn a_syntax_error_or_a_bad_secret_fails_the_whole_file() {
    let path = write(
        "syntax",
        &format!("connections {{\n  a {{\n{GOOD}  }}\n  b {{\n    version 9\n"),
    );
    let errors = iked_conf::load_file_per_conn(&path).expect_err("syntax error");
    assert!(!errors.errors.is_empty());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());

    let path = write(
        "secret",
        &format!(
            "connections {{\n  a {{\n{GOOD}  }}\n}}\nsecrets {{\n  ike-x {{\n    bogus = 1\n  }}\n}}\n"
        ),
    );
    assert!(
        iked_conf::load_file_per_conn(&path).is_err(),
        "an invalid secret is not a connection's: the file fails"
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
