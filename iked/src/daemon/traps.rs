//! Trap policies (`start_action = trap`, ipsec.conf `auto=route`) derived from configuration,
//! and which installed ones a configuration change made stale.
//!
//! Contract: [`build`] computes the policy a child's configuration asks for, as charon's trap
//! manager does: `dynamic` selectors become the connection's addresses, and a `%any` local
//! address becomes the source of the route to the peer. [`stale`] lists the installed traps
//! that no longer match what the configuration asks for (connection or child gone, trap
//! action dropped, addresses or selectors changed), so a reload uninstalls them, as charon
//! unroutes connections `ipsec update` or `swanctl --load-conns` removed; unchanged ones stay
//! installed, so a reload never opens a window where trapped traffic could leave in clear.

use std::net::{IpAddr, SocketAddr};

use super::kernel_types::TrapPolicy;

/// The trap policy `conn`'s child `child_name` asks for, under `reqid`.
pub fn build(
    conn: &iked_conf::Connection,
    child_name: &str,
    reqid: u32,
) -> Result<TrapPolicy, String> {
    build_to(conn, child_name, reqid, None)
}

/// [`build`] towards `remote` when given (what the peer's DNS name resolved to, as charon's
/// trap manager resolves it when installing), else the first configured address.
pub fn build_to(
    conn: &iked_conf::Connection,
    child_name: &str,
    reqid: u32,
    remote: Option<IpAddr>,
) -> Result<TrapPolicy, String> {
    let engine_conn = super::config::engine_connection(conn)?;
    let child = engine_conn
        .children
        .iter()
        .find(|c| c.name == child_name)
        .ok_or_else(|| format!("no child '{child_name}' in '{}'", conn.name))?;
    let remote = match remote.or(engine_conn.remote_addrs.first().copied()) {
        Some(r) => r,
        None if !engine_conn.remote_names.is_empty() => {
            return Err("trap policies wait for the peer's DNS name to resolve".into());
        }
        None => return Err("trap policies need a concrete remote_addrs".into()),
    };
    // With `local_addrs = %any` (ipsec.conf `left=%any`, as Open vSwitch writes) the policy
    // uses the source address of the route to the peer, as charon's trap manager does.
    let local = match engine_conn.local_addrs.first() {
        Some(local) => *local,
        None => super::net::route_source(SocketAddr::new(remote, 500))
            .ok_or("trap policies need a concrete local_addrs or a route to the peer")?,
    };
    Ok(TrapPolicy {
        reqid,
        connection: conn.name.clone(),
        child: child_name.to_owned(),
        local,
        remote,
        // As charon's trap manager: `dynamic` is the connection's own addresses.
        local_ts: iked_ike::ts::resolve(&child.local_ts, local),
        remote_ts: iked_ike::ts::resolve(&child.remote_ts, remote),
        transport: child.mode == iked_ike::config::Mode::Transport,
        marks: child.marks,
    })
}

/// Indices of the `installed` traps the configuration (`find_conn` by name) no longer asks for
/// in exactly that form.
pub fn stale<'c>(
    installed: &[TrapPolicy],
    find_conn: impl Fn(&str) -> Option<&'c iked_conf::Connection>,
) -> Vec<usize> {
    installed
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            let Some(conn) = find_conn(&t.connection) else {
                return true;
            };
            let wanted = conn
                .children
                .iter()
                .any(|c| c.name == t.child && c.start_action.trap);
            !wanted || build(conn, &t.child, t.reqid).ok().as_ref() != Some(*t)
        })
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> iked_conf::Config {
        iked_conf::load_str("t", text).unwrap().config
    }

    const BASE: &str = "connections { c {\nlocal_addrs = 10.0.0.1\nremote_addrs = 10.0.0.2\n\
        local { auth = psk }\nremote { auth = psk }\nchildren { ch {\nmode = transport\n\
        esp_proposals = aes256gcm16\nstart_action = trap\nlocal_ts = dynamic[gre]\n\
        remote_ts = dynamic[gre]\n} } } }";

    #[test]
    fn unchanged_traps_stay_changed_or_gone_ones_go() {
        let old = conf(BASE);
        let trap = build(&old.connections[0], "ch", 7).unwrap();
        assert_eq!(trap.local_ts[0].to_string(), "10.0.0.1/32[47]");
        assert!(trap.transport);
        let installed = vec![trap];
        let find = |c: &iked_conf::Config| stale(&installed, |n| c.connection(n)).len();
        assert_eq!(find(&old), 0);
        assert_eq!(find(&conf(&BASE.replace("10.0.0.2", "10.0.0.3"))), 1);
        assert_eq!(find(&conf(&BASE.replace("[gre]", "[udp/4789]"))), 1);
        assert_eq!(find(&conf(&BASE.replace("start_action = trap", ""))), 1);
        assert_eq!(
            find(&conf(
                &BASE.replace("connections { c {", "connections { d {")
            )),
            1
        );
    }
}
