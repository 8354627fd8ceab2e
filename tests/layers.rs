//! The server's modules form layers that only point down: no module imports one that imports it
//! back, directly or through others, and each top-level module imports only from its own layer
//! or the ones below (the picture is in `docs/architecture.md`; `src/lib.rs` says it in words).
//!
//! The check reads the crate's own source with `syn`: every `use` and every path that starts
//! with `crate::`, `super::` or `self::` is an import of the module it names. Test code
//! (`#[cfg(test)]` items, `tests.rs` files) may import anything and is not read. Imports are
//! checked at two grains: between the top-level modules, and between the sibling modules of
//! every folder (`ws::connection` and `ws::commands`, say). A child using its parent's items,
//! and a parent re-exporting its children, are how Rust modules are built, not cycles.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};
use syn::visit::Visit;

/// The layers, bottom first. A module may import from its own layer and the ones below.
const LAYERS: &[&[&str]] = &[
    // Values: settings, token-bucket maths, origins, the clock, logs and metrics, the listener.
    &[
        "settings",
        "rate",
        "origins",
        "clock",
        "shutdown",
        "telemetry",
        "metrics",
        "listener",
    ],
    &["config"],
    &["database"],
    &["backend", "accounts", "memberships"],
    // The instance's services over the backend.
    &[
        "hub",
        "history",
        "notices",
        "presence",
        "admission",
        "sign_ins",
        "sso",
        "access",
        "conversations",
        "streams",
    ],
    &["state"],
    // The edges: the WebSocket and the HTTP surface.
    &["ws", "sse", "http"],
    &["application"],
];

type Module = Vec<String>;
type Graph = BTreeMap<Module, BTreeSet<Module>>;

#[test]
fn the_servers_modules_import_only_downwards() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = imports(&read_sources(&root));
    let problems = problems(&graph);
    assert!(
        problems.is_empty(),
        "the module layers are broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_finds_a_cycle_and_an_upward_import() {
    let sources = vec![
        (module("state"), "use crate::ws::Connection;".to_owned()),
        (module("ws"), "use crate::state::AppState;".to_owned()),
        (module("ws::a"), "use super::b::X; pub struct Y;".to_owned()),
        (
            module("ws::b"),
            "pub struct X; fn f() -> super::a::Y { todo!() }".to_owned(),
        ),
        (
            module("rate"),
            "#[cfg(test)] mod tests { use crate::ws::X; }".to_owned(),
        ),
    ];
    let problems = problems(&imports(&sources));
    let text = problems.join("\n");
    assert!(text.contains("cycle: state -> ws -> state"), "{text}");
    assert!(text.contains("cycle: ws::a -> ws::b -> ws::a"), "{text}");
    assert!(text.contains("state imports ws"), "{text}");
    assert!(!text.contains("rate"), "test code is not read: {text}");
}

fn module(path: &str) -> Module {
    path.split("::").map(str::to_owned).collect()
}

/// Every source file of the crate below `root`, with the module it is, test files left out.
fn read_sources(root: &Path) -> Vec<(Module, String)> {
    let mut files = Vec::new();
    collect(root, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(root).expect("below the root");
            let mut parts: Module = relative
                .with_extension("")
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            match parts.last().map(String::as_str) {
                Some("main") if parts.len() == 1 => return None,
                Some("tests") => return None,
                Some("mod" | "lib") => {
                    parts.pop();
                }
                _ => {}
            }
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            Some((parts, text))
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Which module imports which, from the sources (modules named by their full path).
fn imports(sources: &[(Module, String)]) -> Graph {
    let parsed: Vec<(&Module, syn::File)> = sources
        .iter()
        .map(|(me, text)| {
            let file = syn::parse_file(text).unwrap_or_else(|e| panic!("{me:?} parses: {e}"));
            (me, file)
        })
        .collect();
    // Modules declared `#[cfg(test)] mod name;` are test code, in their own files.
    let test_modules: Vec<Module> = parsed
        .iter()
        .flat_map(|(me, file)| {
            file.items.iter().filter_map(move |item| match item {
                syn::Item::Mod(m) if m.content.is_none() && is_test(&m.attrs) => {
                    let mut path = (*me).clone();
                    path.push(m.ident.to_string());
                    Some(path)
                }
                _ => None,
            })
        })
        .collect();
    let parsed: Vec<_> = parsed
        .into_iter()
        .filter(|(me, _)| !test_modules.iter().any(|t| me.starts_with(t)))
        .collect();
    let known: BTreeSet<Module> = parsed.iter().map(|(m, _)| (*m).clone()).collect();
    let mut graph = Graph::new();
    for (me, file) in &parsed {
        let me: &Module = me;
        let mut paths = Paths::default();
        paths.visit_file(file);
        for path in paths.found {
            let Some(absolute) = resolve(me, &path) else {
                continue;
            };
            // The longest known module the path names.
            let target = (1..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|m| known.contains(m));
            if let Some(target) = target.filter(|t| t != me) {
                graph.entry(me.clone()).or_default().insert(target);
            }
        }
    }
    graph
}

/// `path` (as written in module `me`) from the crate root, if it is one of the crate's own.
fn resolve(me: &Module, path: &[String]) -> Option<Module> {
    let mut at = me.clone();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            at.clear();
            rest = &rest[1..];
        }
        Some("super" | "self") => {
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "super" => {
                        at.pop()?;
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    at.extend(rest.iter().cloned());
    Some(at)
}

/// The crate-relative paths a file mentions, outside test code.
#[derive(Default)]
struct Paths {
    found: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_test(&item.attrs) {
            syn::visit::visit_item_mod(self, item);
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_test(&item.attrs) {
            syn::visit::visit_item_fn(self, item);
        }
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if !is_test(&item.attrs) {
            syn::visit::visit_item_impl(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if !is_test(&item.attrs) {
            use_tree(&item.tree, Vec::new(), &mut self.found);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if matches!(
            segments.first().map(String::as_str),
            Some("crate" | "super")
        ) {
            self.found.push(segments);
        }
        syn::visit::visit_path(self, path);
    }
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("test")
            || (attr.path().is_ident("cfg")
                && attr
                    .parse_args::<syn::Ident>()
                    .is_ok_and(|ident| ident == "test"))
    })
}

/// Each path a `use` tree brings in, from its root.
fn use_tree(tree: &syn::UseTree, prefix: Vec<String>, found: &mut Vec<Vec<String>>) {
    let with = |name: String| {
        let mut path = prefix.clone();
        path.push(name);
        path
    };
    match tree {
        syn::UseTree::Path(p) => use_tree(&p.tree, with(p.ident.to_string()), found),
        syn::UseTree::Name(n) if n.ident == "self" => found.push(prefix),
        syn::UseTree::Name(n) => found.push(with(n.ident.to_string())),
        syn::UseTree::Rename(r) => found.push(with(r.ident.to_string())),
        syn::UseTree::Glob(_) => found.push(prefix),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                use_tree(tree, prefix.clone(), found);
            }
        }
    }
}

/// What is wrong with `graph`: cycles between top-level modules, cycles between siblings, and
/// imports that point up a layer.
fn problems(graph: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    // Top level: every module counted as its top-level ancestor.
    let top = collapse(graph, |m| (!m.is_empty()).then(|| m[..1].to_vec()));
    problems.extend(cycles(&top));
    let layer = |m: &Module| {
        LAYERS
            .iter()
            .position(|layer| layer.contains(&m[0].as_str()))
    };
    for (from, targets) in &top {
        for to in targets {
            match (layer(from), layer(to)) {
                (Some(a), Some(b)) if b > a => problems.push(format!(
                    "{} imports {} (a higher layer)",
                    name(from),
                    name(to)
                )),
                (None, _) => problems.push(format!("{} is in no layer of LAYERS", name(from))),
                _ => {}
            }
        }
    }
    // Siblings: within each folder, every module counted as its ancestor among the folder's
    // children.
    let parents: BTreeSet<Module> = graph
        .keys()
        .chain(graph.values().flatten())
        .filter(|m| m.len() >= 2)
        .map(|m| m[..m.len() - 1].to_vec())
        .collect();
    for parent in parents {
        let depth = parent.len() + 1;
        let siblings = collapse(graph, |m| {
            (m.len() >= depth && m.starts_with(&parent)).then(|| m[..depth].to_vec())
        });
        problems.extend(cycles(&siblings));
    }
    problems.sort();
    problems.dedup();
    problems
}

/// `graph` with every module replaced by `group(module)`; edges inside a group, and modules
/// without one, dropped.
fn collapse(graph: &Graph, group: impl Fn(&Module) -> Option<Module>) -> Graph {
    let mut collapsed = Graph::new();
    for (from, targets) in graph {
        let Some(from) = group(from) else { continue };
        for to in targets.iter().filter_map(&group) {
            if to != from {
                collapsed.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    collapsed
}

/// One line per cycle found (one cycle through each module that is on one).
fn cycles(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for start in graph.keys() {
        if let Some(path) = path_back(graph, start) {
            // Written from its smallest module, so each cycle reads the same from any start.
            let smallest = (0..path.len()).min_by_key(|&i| &path[i]).unwrap_or(0);
            let mut ring: Vec<String> = path[smallest..]
                .iter()
                .chain(&path[..smallest])
                .map(name)
                .collect();
            ring.push(ring[0].clone());
            found.push(format!("cycle: {}", ring.join(" -> ")));
        }
    }
    found
}

/// A path of imports from `start` back to itself, if there is one (breadth first: the shortest).
fn path_back(graph: &Graph, start: &Module) -> Option<Vec<Module>> {
    let mut came_from: BTreeMap<&Module, &Module> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                let mut path = vec![at.clone()];
                let mut step = at;
                while step != start {
                    step = came_from[step];
                    path.push(step.clone());
                }
                path.reverse();
                return Some(path);
            }
            if !came_from.contains_key(next) {
                came_from.insert(next, at);
                queue.push_back(next);
            }
        }
    }
    None
}

fn name(module: &Module) -> String {
    module.join("::")
}
