//! Section references (`name : template { }`) resolved into one merged view.
//!
//! Contract (strongSwan's `settings.c` semantics, see strongswan.conf(5)
//! "REFERENCING OTHER SECTIONS"): a section that references others by
//! absolute dotted name sees its own keys first, then the keys of the
//! referenced sections (left to right, recursively through their own
//! references); the first definition found wins, and an empty value
//! (`key =`) found first hides inherited values so the default applies.
//! Subsections with the same name are merged the same way, so inheritance
//! reaches into `children`, `local`, etc. References are resolved against
//! the raw tree from the root, so they may point forward or into other
//! files. Unknown references are warnings; reference cycles and configs
//! that would expand to more than [`MAX_NODES`] sections are located
//! errors (never a hang or a stack overflow).

use std::collections::HashSet;

use indexmap::IndexMap;

use crate::diag::{Sink, Span};
use crate::syntax::{MAX_DEPTH, RawKey, RawSection};

/// Upper bound on resolved sections, against reference fan-out blow-up.
pub const MAX_NODES: usize = 300_000;

/// A section with its references applied.
#[derive(Debug)]
pub(crate) struct Node<'a> {
    pub name: String,
    pub span: Span,
    pub keys: IndexMap<String, &'a RawKey>,
    pub sections: IndexMap<String, Node<'a>>,
}

impl<'a> Node<'a> {
    /// The value of `key`, if set to something non-empty-assignment.
    pub(crate) fn value(&self, key: &str) -> Option<(&'a str, &'a RawKey)> {
        let raw = *self.keys.get(key)?;
        raw.value.as_deref().map(|v| (v, raw))
    }
}

/// Resolves the whole tree. Also returns the top-level section names that
/// are the target of some reference (templates), which are not themselves
/// configuration and must not be reported as unknown.
pub(crate) fn resolve<'a>(root: &'a RawSection, sink: &mut Sink) -> (Node<'a>, HashSet<String>) {
    let mut r = Resolver {
        root,
        sink,
        nodes: 0,
        templates: HashSet::new(),
        overflow: false,
        active: HashSet::new(),
    };
    let node = r.group(&root.name, vec![root], &[]);
    (node, r.templates)
}

struct Resolver<'a, 's> {
    root: &'a RawSection,
    sink: &'s mut Sink,
    nodes: usize,
    templates: HashSet<String>,
    overflow: bool,
    /// Raw sections merged into the groups on the current path from the
    /// root: reaching one of them again through a reference would nest a
    /// section inside itself (and expand exponentially).
    active: HashSet<*const RawSection>,
}

impl<'a> Resolver<'a, '_> {
    fn lookup(&self, path: &str) -> Option<&'a RawSection> {
        let mut s = self.root;
        for part in path.split('.') {
            s = s.sections.get(part)?;
        }
        Some(s)
    }

    /// Appends `s` and, after it, everything it references (depth first).
    fn expand(
        &mut self,
        s: &'a RawSection,
        at: &[&str],
        out: &mut Vec<&'a RawSection>,
        seen: &mut HashSet<*const RawSection>,
        depth: usize,
    ) {
        if !seen.insert(s as *const RawSection) {
            return;
        }
        out.push(s);
        for r in &s.refs {
            if let Some(first) = r.path.split('.').next() {
                self.templates.insert(first.to_string());
            }
            if depth >= MAX_DEPTH {
                self.sink
                    .error(&r.span, "section references nested too deeply");
                continue;
            }
            match self.lookup(&r.path) {
                // Inheriting from a section already merged above this one
                // would nest it inside itself forever (plain cycles at one
                // level are cut by `seen` instead).
                Some(target) if self.active.contains(&(target as *const RawSection)) => {
                    self.sink.error(
                        &r.span,
                        format!(
                            "section '{}' cannot reference '{}', which contains it",
                            at.join("."),
                            r.path
                        ),
                    );
                }
                Some(target) => self.expand(target, at, out, seen, depth + 1),
                None => self.sink.warning(
                    &r.span,
                    format!("reference to unknown section '{}' ignored", r.path),
                ),
            }
        }
    }

    fn group(&mut self, name: &str, group: Vec<&'a RawSection>, at: &[&str]) -> Node<'a> {
        let depth = at.len();
        self.nodes += 1;
        let mut expanded = Vec::new();
        let mut seen = HashSet::new();
        for s in &group {
            self.expand(s, at, &mut expanded, &mut seen, 0);
        }
        let span = group
            .first()
            .map(|s| s.span.clone())
            .unwrap_or_else(|| self.root.span.clone());
        let mut node = Node {
            name: name.to_string(),
            span: span.clone(),
            keys: IndexMap::new(),
            sections: IndexMap::new(),
        };
        for s in &expanded {
            for (k, v) in &s.keys {
                node.keys.entry(k.clone()).or_insert(v);
            }
        }
        if depth >= MAX_DEPTH {
            self.sink.error(
                &span,
                "section references recurse too deeply (does a section reference its own parent?)",
            );
            return node;
        }
        let entered: Vec<*const RawSection> = expanded
            .iter()
            .map(|s| *s as *const RawSection)
            .filter(|p| self.active.insert(*p))
            .collect();
        let mut subgroups: IndexMap<&'a str, Vec<&'a RawSection>> = IndexMap::new();
        for s in &expanded {
            for (n, sub) in &s.sections {
                subgroups.entry(n.as_str()).or_default().push(sub);
            }
        }
        for (n, subs) in subgroups {
            if self.nodes >= MAX_NODES {
                if !self.overflow {
                    self.overflow = true;
                    self.sink.error(
                        &span,
                        format!("section references expand to more than {MAX_NODES} sections"),
                    );
                }
                break;
            }
            let mut child_at = at.to_vec();
            child_at.push(n);
            let child = self.group(n, subs, &child_at);
            node.sections.insert(n.to_string(), child);
        }
        for p in entered {
            self.active.remove(&p);
        }
        node
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Parser;
    use std::sync::Arc;

    fn resolved(text: &str, f: impl FnOnce(&Node<'_>, &[String])) {
        let mut sink = Sink::default();
        let mut root = RawSection::new("", Span::new(Arc::from("t"), 1, 1));
        assert!(Parser::new(&mut sink).parse_text("t", text.as_bytes(), &mut root));
        let (node, _) = resolve(&root, &mut sink);
        let (e, w) = sink.split();
        let msgs: Vec<String> = e.iter().chain(w.iter()).map(|d| d.to_string()).collect();
        f(&node, &msgs);
    }

    #[test]
    fn inherits_keys_and_subsections_own_values_win() {
        resolved(
            "defaults { a = 1\n b = 2\n sub { x = y } }\nc { s : defaults { a = 3\n sub { z = w } } }\n",
            |n, msgs| {
                assert!(msgs.is_empty(), "{msgs:?}");
                let s = &n.sections["c"].sections["s"];
                assert_eq!(s.value("a").unwrap().0, "3");
                assert_eq!(s.value("b").unwrap().0, "2");
                assert_eq!(s.sections["sub"].value("x").unwrap().0, "y");
                assert_eq!(s.sections["sub"].value("z").unwrap().0, "w");
                // own keys come first, inherited ones follow
                assert_eq!(s.keys.keys().collect::<Vec<_>>(), ["a", "b"]);
            },
        );
    }

    #[test]
    fn empty_assignment_hides_inherited_value() {
        resolved("d { a = 1 }\ns : d { a = }\n", |n, _| {
            assert!(n.sections["s"].value("a").is_none());
        });
    }

    #[test]
    fn chained_and_forward_references() {
        resolved("x : y { }\ny : z { b = 2 }\nz { c = 3 }\n", |n, _| {
            assert_eq!(n.sections["x"].value("b").unwrap().0, "2");
            assert_eq!(n.sections["x"].value("c").unwrap().0, "3");
        });
    }

    #[test]
    fn cycles_terminate_with_a_located_error() {
        resolved("a : b { }\nb : a { }\n", |n, msgs| {
            assert!(n.sections.contains_key("a"));
            assert!(msgs.is_empty(), "plain cycles just stop: {msgs:?}");
        });
        resolved("p { c : p { } }\n", |_, msgs| {
            assert_eq!(
                msgs,
                ["t:1:9: section 'p.c' cannot reference 'p', which contains it"]
            );
        });
        resolved("a { b : t { } }\nt : a { }\n", |_, msgs| {
            assert!(
                msgs.iter().any(|m| m.contains("cannot reference 'a'")),
                "{msgs:?}"
            );
        });
    }

    #[test]
    fn unknown_reference_warns() {
        resolved("a : nope { }\n", |_, msgs| {
            assert_eq!(msgs, ["t:1:5: reference to unknown section 'nope' ignored"]);
        });
    }
}
