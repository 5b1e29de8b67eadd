//! `docs/ARCHITECTURE.md` names paths; this keeps the map true as the code moves.

#[test]
fn every_path_named_in_the_architecture_map_exists() {
    let root = env!("CARGO_MANIFEST_DIR");
    let map = std::fs::read_to_string(format!("{root}/docs/ARCHITECTURE.md")).unwrap();
    let mut checked = 0;
    for (i, part) in map.split('`').enumerate() {
        // Odd parts are inside backticks; keep those that look like repository paths.
        let looks_like_path =
            part.contains('/') && !part.contains(' ') && !part.contains("::") && !part.starts_with("/_");
        if i % 2 == 1 && looks_like_path {
            let path = format!("{root}/{}", part.trim_end_matches('/'));
            assert!(std::path::Path::new(&path).exists(), "docs/ARCHITECTURE.md names {part}, which does not exist");
            checked += 1;
        }
    }
    assert!(checked > 15, "only {checked} paths found in the map");
}

/// The layers of `src/`, leaf first: a module may use its own layer and the ones before it,
/// never one after it. `docs/ARCHITECTURE.md` draws the same order.
const LAYERS: &[&[&str]] = &[
    &["clock", "backoff", "metrics", "outbound"],
    &["store"],
    &["media", "callbacks"],
    &["delivery", "smpp"],
    &["inbound"],
    &["api", "inbox", "cluster"],
    &["server", "config", "proxy", "tls"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `crate::name` that `text` mentions (outside comments).
fn crate_references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
        // `use crate::{a, b}` names several modules at once.
        if let Some(group) = code.split("crate::{").nth(1) {
            for part in group.split(',') {
                let name: String = part.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        }
    }
    found
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_uses_a_module_of_a_later_layer() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in files {
        let rel = file.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let module = rel.split('/').next().unwrap().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let own = layer_of(&module).unwrap_or_else(|| panic!("src/{rel}: add module `{module}` to LAYERS"));
        for used in crate_references(&std::fs::read_to_string(&file).unwrap()) {
            let Some(theirs) = layer_of(&used) else { continue };
            checked += 1;
            if theirs > own {
                violations.push(format!("src/{rel} ({module}) uses crate::{used}, a later layer"));
            }
        }
    }
    assert!(violations.is_empty(), "layering broken:\n{}", violations.join("\n"));
    assert!(checked > 30, "only {checked} references checked");
}

#[test]
fn only_server_and_main_read_the_configuration() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let rel = file.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        if matches!(rel.as_str(), "server.rs" | "main.rs" | "config.rs" | "lib.rs") {
            continue;
        }
        let refs = crate_references(&std::fs::read_to_string(&file).unwrap());
        assert!(!refs.iter().any(|r| r == "config"), "src/{rel} reads the configuration");
    }
}

#[test]
fn the_layer_checker_sees_references_in_paths_and_groups_but_not_comments() {
    let refs = crate_references("use crate::{api, store::Store};\nlet x = crate::clock::now_ms(); // crate::server");
    assert_eq!(refs, ["api", "store", "clock"]);
}

/// Every engine implements every concern in a file of the same name: a query added to one
/// engine's `messages.rs` has its twin in the other's.
#[test]
fn both_engines_have_one_file_per_concern_with_the_same_names() {
    let store = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let names = |dir: &str| {
        let mut names: Vec<String> = std::fs::read_dir(store.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".rs"))
            .collect();
        names.sort();
        names
    };
    // Engine-only files: SQLite's online backup, PostgreSQL's TLS and import from SQLite.
    let concern = |n: &String| !matches!(n.as_str(), "backup.rs" | "tls.rs" | "copy.rs");
    let sqlite: Vec<String> = names("sqlite").into_iter().filter(concern).collect();
    let postgres: Vec<String> = names("postgres").into_iter().filter(concern).collect();
    assert_eq!(sqlite, postgres, "src/store/sqlite/ and src/store/postgres/ must hold the same concern files");
}
