//! An `include` of a FIFO, a device or another non-regular file is a located
//! error, returned at once (issue 16 §2). Opening a FIFO for reading blocks
//! until a writer shows up: before, `ikectl check` hung and a SIGHUP reload
//! froze the daemon.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use iked_conf::{Errors, Loaded, load_file};

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iked-conf-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

/// Loads `path` on another thread and fails the test if that takes more than
/// a few seconds (the old code blocked forever in `open`). On a timeout the
/// FIFOs are opened for writing so the stuck thread can finish.
fn load_promptly(path: &Path, fifos: &[&Path]) -> Result<Loaded, Errors> {
    let (tx, rx) = mpsc::channel();
    let p = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(load_file(&p));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(result) => result,
        Err(_) => {
            for f in fifos {
                let _ = std::fs::OpenOptions::new().write(true).open(f);
            }
            panic!("loading {} blocked on a FIFO", path.display());
        }
    }
}

#[test]
fn include_of_a_fifo_is_a_located_error() {
    let dir = scratch("fifo");
    let fifo = dir.join("fifo.conf");
    mkfifo(&fifo);
    let main = dir.join("swanctl.conf");
    std::fs::write(&main, "# main\n  include fifo.conf\n").unwrap();
    let e = load_promptly(&main, &[&fifo]).expect_err("a FIFO include is refused");
    assert_eq!(e.errors.len(), 1, "{e}");
    let d = &e.errors[0];
    assert_eq!(&*d.span.file, main.to_str().unwrap());
    assert_eq!((d.span.line, d.span.column), (2, 3), "{d}");
    assert!(
        d.message.contains("fifo.conf") && d.message.contains("it is a FIFO, not a regular file"),
        "{d}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fifo_matched_by_a_glob_is_a_located_error() {
    let dir = scratch("glob");
    let confd = dir.join("conf.d");
    std::fs::create_dir_all(&confd).unwrap();
    std::fs::write(confd.join("a.conf"), "connections {\n}\n").unwrap();
    let fifo = confd.join("b.conf");
    mkfifo(&fifo);
    let main = dir.join("swanctl.conf");
    std::fs::write(&main, "include conf.d/*.conf\n").unwrap();
    let e = load_promptly(&main, &[&fifo]).expect_err("a FIFO among the matches is refused");
    assert_eq!(e.errors.len(), 1, "{e}");
    let d = &e.errors[0];
    assert_eq!((d.span.line, d.span.column), (1, 1), "{d}");
    assert!(d.message.contains("b.conf"), "{d}");
    assert!(d.message.contains("FIFO"), "{d}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fifo_as_the_main_file_is_refused() {
    let dir = scratch("main");
    let fifo = dir.join("swanctl.conf");
    mkfifo(&fifo);
    let e = load_promptly(&fifo, &[&fifo]).expect_err("a FIFO is not a configuration file");
    assert!(e.errors[0].message.contains("FIFO"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn include_of_a_device_is_a_located_error() {
    let dir = scratch("dev");
    let main = dir.join("swanctl.conf");
    // /dev/zero would never end if it were read.
    std::fs::write(&main, "connections {\n}\ninclude /dev/zero\n").unwrap();
    let e = load_promptly(&main, &[]).expect_err("a device include is refused");
    assert_eq!(e.errors.len(), 1, "{e}");
    let d = &e.errors[0];
    assert_eq!((d.span.line, d.span.column), (3, 1), "{d}");
    assert!(d.message.contains("character device"), "{d}");
    let _ = std::fs::remove_dir_all(&dir);
}
