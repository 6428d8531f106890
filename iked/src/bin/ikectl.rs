//! `ikectl` (and `swanctl` or `ipsec` when invoked under those names): see `iked::ctl`.

use clap::Parser;

fn main() {
    // Die quietly on a closed pipe (`ikectl list-sas | head`), as C tools do, instead of
    // panicking in println!.
    // SAFETY: resetting SIGPIPE to its default disposition before any other thread exists
    // has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_default();
    let invoked_as = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if invoked_as == "ipsec" {
        let rest: Vec<String> = args.collect();
        let env = iked::ctl::ipsec::Env::from_process();
        std::process::exit(iked::ctl::ipsec::main(&rest, &env));
    }
    let cli = if invoked_as == "swanctl" {
        let rest: Vec<String> = args.collect();
        match iked::ctl::swanctl::parse(&rest) {
            Ok(cli) => cli,
            Err(iked::ctl::swanctl::UsageError::Help) => {
                print!("{}", iked::ctl::swanctl::usage());
                std::process::exit(iked::ctl::EXIT_OK);
            }
            Err(e) => {
                // swanctl's words and status for a command line it refuses.
                eprintln!("Error: {e}");
                eprint!("{}", iked::ctl::swanctl::usage());
                std::process::exit(iked::ctl::swanctl::EXIT_BAD_COMMAND);
            }
        }
    } else {
        iked::ctl::Cli::parse()
    };
    std::process::exit(iked::ctl::run(cli));
}
