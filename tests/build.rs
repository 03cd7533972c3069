//! Compiles the workspace's plugin crates to `wasm32-wasip2` components.
//!
//! Which crates: the keydoor example, every workspace package under `plugins/`
//! (new environments are picked up without editing this file) and the test
//! fixtures under `tests/plugins/`. They are found with `cargo metadata` and
//! built in one `cargo build --profile plugin --target wasm32-wasip2` into a
//! separate target directory, `<target>/plugins`: building into the outer
//! build's own target directory would wait forever on the lock the outer
//! cargo holds. The paths are written to `$OUT_DIR/plugins.rs` for the library.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Where plugin crates live, relative to the workspace root.
const PLUGIN_ROOTS: &[&str] = &["examples/keydoor", "plugins", "tests/plugins"];
const WASM_TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf();
    for watched in [
        "wit",
        "sdk",
        "examples",
        "plugins",
        "tests/plugins",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!("cargo:rerun-if-env-changed=LAMER_PLUGIN_TARGET_DIR");

    let cargo = env("CARGO");
    let packages = plugin_packages(&cargo, &workspace);
    let target_dir = plugin_target_dir(&workspace);

    let mut build = inner_cargo(&cargo, &workspace);
    build.args([
        "build",
        "--profile",
        PROFILE,
        "--target",
        WASM_TARGET,
        "--target-dir",
    ]);
    build.arg(&target_dir);
    for package in packages.keys() {
        build.args(["-p", package]);
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("cannot run `{cargo} build` for the plugins: {e}"));
    assert!(
        status.success(),
        "building the wasm plugins failed (see the cargo output above); \
         is the target installed? `rustup target add {WASM_TARGET}`"
    );

    let out_dir = target_dir.join(WASM_TARGET).join(PROFILE);
    let mut entries = String::new();
    for artifacts in packages.values() {
        for name in artifacts {
            let file = out_dir.join(format!("{}.wasm", name));
            assert!(
                file.is_file(),
                "the plugin build did not produce {}",
                file.display()
            );
            let key = name.as_str();
            entries += &format!("    ({key:?}, {:?}),\n", file.display().to_string());
        }
    }
    let generated = format!("const PLUGINS: &[(&str, &str)] = &[\n{entries}];\n");
    let out = PathBuf::from(env("OUT_DIR")).join("plugins.rs");
    std::fs::write(&out, generated).expect("OUT_DIR is writable");
    println!("cargo:rustc-env=LAMER_PLUGIN_DIR={}", out_dir.display());
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}

/// A cargo command with the variables cargo sets for build scripts removed:
/// they describe *this* build (its flags, target, jobserver, package) and
/// would leak into the plugin build.
fn inner_cargo(cargo: &str, workspace: &Path) -> Command {
    let mut command = Command::new(cargo);
    command.current_dir(workspace);
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let keep = matches!(
            key,
            "CARGO_HOME" | "CARGO_NET_OFFLINE" | "CARGO_REGISTRIES_CRATES_IO_PROTOCOL"
        );
        let build_var = key.starts_with("CARGO_")
            || key.starts_with("DEP_")
            || matches!(
                key,
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "MAKEFLAGS"
                    | "MFLAGS"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "RUSTC"
                    | "RUSTDOC"
                    | "RUSTC_LINKER"
                    | "RUSTC_WORKSPACE_WRAPPER"
            );
        if build_var && !keep {
            command.env_remove(key);
        }
    }
    command
}

/// Workspace packages under the plugin roots that build a wasm artifact,
/// mapped to their artifact names (cdylib lib names with `_`, binary names).
fn plugin_packages(cargo: &str, workspace: &Path) -> BTreeMap<String, Vec<String>> {
    let output = inner_cargo(cargo, workspace)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{cargo} metadata`: {e}"));
    assert!(
        output.status.success(),
        "`cargo metadata` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata is JSON");
    let roots: Vec<PathBuf> = PLUGIN_ROOTS.iter().map(|r| workspace.join(r)).collect();
    let mut packages = BTreeMap::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        if !roots.iter().any(|root| manifest.starts_with(root)) {
            continue;
        }
        let mut artifacts = Vec::new();
        for target in package["targets"].as_array().into_iter().flatten() {
            let kinds: Vec<&str> = target["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let name = target["name"].as_str().unwrap_or_default();
            if kinds.contains(&"cdylib") {
                artifacts.push(name.replace('-', "_"));
            } else if kinds.contains(&"bin") {
                artifacts.push(name.to_string());
            }
        }
        if !artifacts.is_empty() {
            let name = package["name"].as_str().unwrap_or_default().to_string();
            packages.insert(name, artifacts);
        }
    }
    warn_about_unlisted_plugins(workspace, &metadata);
    packages
}

/// A `plugins/<name>/Cargo.toml` that is not a workspace member cannot be
/// built with `-p`; say so instead of skipping it silently.
fn warn_about_unlisted_plugins(workspace: &Path, metadata: &Value) {
    let members: Vec<PathBuf> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["manifest_path"].as_str().map(PathBuf::from))
        .collect();
    for root in ["plugins", "tests/plugins"] {
        let Ok(dirs) = std::fs::read_dir(workspace.join(root)) else {
            continue;
        };
        for dir in dirs.flatten() {
            let manifest = dir.path().join("Cargo.toml");
            if manifest.is_file() && !members.contains(&manifest) {
                println!(
                    "cargo:warning={} is not a workspace member, so it was not built; \
                     add it to `members` in the workspace Cargo.toml",
                    manifest.display()
                );
            }
        }
    }
}

/// `<target>/plugins`, where `<target>` is the outer build's target directory
/// (found by walking up from `OUT_DIR` to the folder with cargo's
/// `CACHEDIR.TAG`), unless `LAMER_PLUGIN_TARGET_DIR` says otherwise.
fn plugin_target_dir(workspace: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("LAMER_PLUGIN_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let out_dir = PathBuf::from(env("OUT_DIR"));
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace.join("target"))
        .join("plugins")
}
