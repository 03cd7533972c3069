//! Loading: every way a file can fail to be a compatible plugin gives its own
//! typed, actionable error, and the compile cache hits on a second load.

use std::path::{Path, PathBuf};

use lamer_plugin::{EnvFactory, LoadError, Plugin, Runtime, RuntimeConfig, SandboxLimits};
use lamer_tests::plugin_path;

fn runtime_with_cache(dir: Option<PathBuf>) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: dir,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

fn load(path: &Path) -> Result<Plugin, LoadError> {
    runtime_with_cache(None).load(path, SandboxLimits::default())
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_missing_file() {
    let err = load(Path::new("/nonexistent/plugin.wasm")).unwrap_err();
    assert!(matches!(err, LoadError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/plugin.wasm"));
}

#[test]
fn random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let err = load(&write_temp(&dir, "random.wasm", &bytes)).unwrap_err();
    assert!(matches!(err, LoadError::NotAComponent { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("is not a WebAssembly component"),
        "{message}"
    );
    assert!(message.contains("wasm32-wasip2"), "{message}");
}

#[test]
fn a_core_module() {
    let dir = tempfile::tempdir().unwrap();
    // The smallest valid core module: magic, version 1, no sections.
    let err = load(&write_temp(&dir, "core.wasm", b"\0asm\x01\0\0\0")).unwrap_err();
    assert!(matches!(err, LoadError::NotAComponent { .. }), "{err}");
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");
}

#[test]
fn a_truncated_component() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(plugin_path("keydoor")).unwrap();
    let err = load(&write_temp(&dir, "cut.wasm", &bytes[..bytes.len() / 2])).unwrap_err();
    assert!(matches!(err, LoadError::Compile { .. }), "{err}");
}

#[test]
fn a_component_of_another_world() {
    let err = load(&plugin_path("other-world")).unwrap_err();
    let LoadError::WrongWorld { exports, .. } = &err else {
        panic!("expected WrongWorld, got {err}");
    };
    assert!(exports.contains("wasi:cli/run"), "{exports}");
    assert!(
        err.to_string().contains("lamer:env/environment@0.1.x"),
        "{err}"
    );
}

#[test]
fn a_component_of_an_incompatible_contract_version() {
    let err = load(&plugin_path("future_contract")).unwrap_err();
    let LoadError::IncompatibleVersion {
        found, supported, ..
    } = &err
    else {
        panic!("expected IncompatibleVersion, got {err}");
    };
    assert_eq!(found, "0.2.0");
    assert_eq!(supported, "0.1.x");
    let message = err.to_string();
    assert!(
        message.contains("lamer:env@0.2.0") && message.contains("0.1.x"),
        "{message}"
    );
    assert!(message.contains("rebuild"), "{message}");
}

#[test]
fn a_missing_data_dir() {
    let limits = SandboxLimits {
        data_dir: Some(PathBuf::from("/nonexistent/data")),
        ..SandboxLimits::default()
    };
    let err = runtime_with_cache(None)
        .load(&plugin_path("keydoor"), limits)
        .unwrap_err();
    assert!(matches!(err, LoadError::DataDir { .. }), "{err}");
}

#[test]
fn the_keydoor_plugin_loads_with_its_facts() {
    let plugin = load(&plugin_path("keydoor")).unwrap();
    assert_eq!(plugin.info().name, "keydoor");
    assert_eq!(plugin.path(), plugin_path("keydoor"));
    assert_eq!(
        plugin.exports(),
        vec!["lamer:env/environment@0.1.0".to_string()]
    );
    let imports = plugin.imports();
    assert!(
        imports.iter().all(|i| i.starts_with("wasi:")),
        "{imports:?}"
    );
    assert!(!plugin.cache_hit());
}

#[test]
fn the_second_load_hits_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let dir = Some(cache.path().join("components"));
    let first = runtime_with_cache(dir.clone())
        .load(&plugin_path("keydoor"), SandboxLimits::default())
        .unwrap();
    assert!(!first.cache_hit());
    let entries: Vec<_> = std::fs::read_dir(cache.path().join("components"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one entry, no temp files left: {entries:?}"
    );
    // A new runtime (as in a new process) finds the entry.
    let second = runtime_with_cache(dir)
        .load(&plugin_path("keydoor"), SandboxLimits::default())
        .unwrap();
    assert!(second.cache_hit());
    assert_eq!(first.info(), second.info());
    let mut session = second.open("{}").unwrap();
    session.reset(&lamer_sdk::Task::new("train", 1)).unwrap();
    session.step("open 1").unwrap();
}

#[test]
fn a_corrupt_cache_entry_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let dir = Some(cache.path().to_path_buf());
    runtime_with_cache(dir.clone())
        .load(&plugin_path("keydoor"), SandboxLimits::default())
        .unwrap();
    let entry = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&entry, b"not a compiled component").unwrap();
    let plugin = runtime_with_cache(dir.clone())
        .load(&plugin_path("keydoor"), SandboxLimits::default())
        .unwrap();
    assert!(!plugin.cache_hit(), "the corrupt entry was not used");
    // ... and it was replaced by a good one.
    let again = runtime_with_cache(dir)
        .load(&plugin_path("keydoor"), SandboxLimits::default())
        .unwrap();
    assert!(again.cache_hit());
}

#[test]
fn an_unwritable_cache_is_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the cache directory should be: nothing can be written.
    let blocker = write_temp(&dir, "blocker", b"");
    let plugin = runtime_with_cache(Some(blocker.join("components")))
        .load(&plugin_path("keydoor"), SandboxLimits::default())
        .unwrap();
    assert!(!plugin.cache_hit());
    assert_eq!(plugin.info().name, "keydoor");
}
