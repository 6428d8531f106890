//! Grouping of automatic starts: the `start_action = start` children of one connection are
//! started together, so that they come up in one IKE SA (the first in IKE_AUTH, the others by
//! CREATE_CHILD_SA), as charon does with `reuse_ikesa`; and when one of two IKE SAs of such a
//! connection goes away (both ends started it at once, or `unique = replace`), the `start`
//! children missing on the one that stays are created there (`Core::restart_on_survivor`) by
//! the end that initiated it, never by the other, so no child is created twice. Two CHILD_SAs
//! with the same selectors on the two IKE SAs share the kernel policies meanwhile, as with
//! charon's kernel-netlink ([`super::policy_share`]), so neither is refused.

/// `(connection, child, keyingtries)` in configuration order -> one entry per connection with
/// its children in order (the connection's first `keyingtries` wins; all children of one
/// connection share it anyway).
pub fn group_by_conn(starts: Vec<(String, String, u32)>) -> Vec<(String, Vec<String>, u32)> {
    let mut out: Vec<(String, Vec<String>, u32)> = Vec::new();
    for (conn, child, tries) in starts {
        match out.iter_mut().find(|(c, _, _)| *c == conn) {
            Some((_, children, _)) => {
                if !children.contains(&child) {
                    children.push(child);
                }
            }
            None => out.push((conn, vec![child], tries)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::group_by_conn;

    #[test]
    fn children_of_one_connection_are_started_together_in_order() {
        let s = |c: &str, ch: &str| (c.to_owned(), ch.to_owned(), 0);
        let got = group_by_conn(vec![
            s("vx-1", "vx-in-1"),
            s("gre-1", "gre-1"),
            s("vx-1", "vx-out-1"),
            s("vx-1", "vx-in-1"),
        ]);
        assert_eq!(
            got,
            vec![
                (
                    "vx-1".to_owned(),
                    vec!["vx-in-1".to_owned(), "vx-out-1".to_owned()],
                    0
                ),
                ("gre-1".to_owned(), vec!["gre-1".to_owned()], 0),
            ]
        );
    }
}
