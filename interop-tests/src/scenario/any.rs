//! `%any` addresses with `dynamic` traffic selectors (issue 14 §1): what road-warrior configs
//! and NVIDIA's OVS integration write, and what iked used to refuse with TS_UNACCEPTABLE.
//!
//! Contract: [`edit_config`] gives BFR `remote_addrs = %any` and, on the initiator when iked
//! runs there, `local_addrs = %any`; every side so edited has its selectors rewritten from the
//! seed's `192.168.50.x/24 [proto/port]` to `dynamic[proto/port]`, which charon and iked
//! must resolve per IKE SA to the addresses in use. The run is the seed's: both children
//! installed on both hosts (transport mode, host selectors), traffic only as ESP.

use crate::swan_conf::{Side, SwanctlConf};
use crate::{LabError, ensure};

use super::{Iked, Scenario};

/// Rewrites one side's configuration (see the module contract).
pub fn edit_config(conf: &mut SwanctlConf, sc: &Scenario, side: Side) -> Result<(), LabError> {
    let mut edited = false;
    if side == Side::Bfr {
        ensure!(
            conf.set_all("remote_addrs", "%any") == 1,
            "seed config has no single remote_addrs line"
        );
        edited = true;
    }
    if side == sc.initiator && side == Side::Bfl && sc.implementation(side) == Iked {
        ensure!(
            conf.set_all("local_addrs", "%any") == 1,
            "seed config has no single local_addrs line"
        );
        edited = true;
    }
    if edited {
        let (text, count) = dynamic_selectors(conf.text());
        ensure!(
            count == 4,
            "expected 4 selector lines in the seed, found {count}"
        );
        *conf = SwanctlConf::from_text(text);
    }
    Ok(())
}

/// Replaces the address part of every `local_ts`/`remote_ts` value with `dynamic`, keeping
/// the `[proto/port]` part; returns the text and how many lines changed.
fn dynamic_selectors(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let key = ["local_ts", "remote_ts"].into_iter().find(|k| {
            trimmed
                .strip_prefix(k)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        match (key, line.find('[')) {
            (Some(key), Some(bracket)) => {
                let indent = &line[..line.len() - trimmed.len()];
                let ports = line[bracket..].trim_end();
                // No space before the bracket: charon compares the part before `[` with
                // `dynamic` verbatim (vici_config.c parse_ts) and refuses `dynamic [udp]`.
                out.push_str(&format!("{indent}{key} = dynamic{ports}\n"));
                count += 1;
            }
            _ => out.push_str(line),
        }
    }
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_become_dynamic_with_their_ports() {
        let text = "bf-out {\n  local_ts = 192.168.50.2/24 [udp]\n  remote_ts = 192.168.50.1/24 [udp/4789]\n  mode = transport\n}\n";
        let (out, n) = dynamic_selectors(text);
        assert_eq!(n, 2);
        assert_eq!(
            out,
            "bf-out {\n  local_ts = dynamic[udp]\n  remote_ts = dynamic[udp/4789]\n  mode = transport\n}\n"
        );
    }
}
