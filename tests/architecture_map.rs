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
