//! `lamer-host new NAME`: a new environment plugin crate, outside this
//! repository, that builds, checks and trains as written.
//!
//! The crate is a standalone Cargo workspace of its own (so a parent
//! directory's workspace does not claim it) with its own `[profile.plugin]`,
//! a tiny complete game implementing `lamer_sdk::Environment` (with an
//! expert), native unit tests, an `insta` transcript snapshot test and a
//! minimal training recipe that layers over the generic default.
//!
//! Where `lamer-sdk` comes from: the SDK is not published on crates.io, so the
//! crate depends on a checkout of it. By default that is the `sdk/` directory
//! of the source tree this `lamer-host` was built from (as a path dependency),
//! when that directory still exists; `--sdk DIR` names another checkout and
//! `--sdk-git URL` writes a git dependency instead. The crate also gets the
//! `Cargo.lock` this `lamer-host` was built with, so its first build uses the
//! dependency versions the SDK was tested with (`cargo update` moves on).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

/// The files of a new crate: (path inside the crate, template).
const TEMPLATES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/plugin/Cargo.toml.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/plugin/gitignore.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../templates/plugin/README.md.tmpl"),
    ),
    (
        "recipe.toml",
        include_str!("../../templates/plugin/recipe.toml.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/plugin/src/lib.rs.tmpl"),
    ),
    (
        "tests/transcript.rs",
        include_str!("../../templates/plugin/tests/transcript.rs.tmpl"),
    ),
];

/// The lockfile this binary was built with; Cargo drops the entries the new
/// crate does not use on its first build.
const LOCKFILE: &str = include_str!("../../../Cargo.lock");

/// The source tree this binary was built from (its `host/` directory).
const BUILT_FROM: &str = env!("CARGO_MANIFEST_DIR");

/// Flags of `lamer-host new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The environment's name (also the crate's): lowercase ASCII letters,
    /// digits and single hyphens, starting with a letter, e.g. `my-env`.
    pub name: String,

    /// Directory to create; it must not exist or be empty [default: ./NAME].
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,

    /// The lamer-sdk crate to depend on by path: the `sdk/` directory of a
    /// lamer checkout [default: the one this lamer-host was built from].
    #[arg(long, value_name = "DIR", conflicts_with = "sdk_git")]
    pub sdk: Option<PathBuf>,

    /// Depend on lamer-sdk from this git repository (a lamer repository URL)
    /// instead of a local checkout.
    #[arg(long, value_name = "URL")]
    pub sdk_git: Option<String>,
}

/// Why a crate could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error(
        "`{0}` is not a valid environment name: use lowercase ASCII letters, digits and \
         single hyphens, starting with a letter and ending with a letter or digit (e.g. my-env)"
    )]
    BadName(String),
    #[error(
        "`{0}` cannot be a crate name (it is a Rust keyword or a crate it depends on); pick another"
    )]
    ReservedName(String),
    #[error("{0} already exists and is not empty; pick a new --path or remove it")]
    Occupied(PathBuf),
    #[error(
        "{0} is not the lamer-sdk crate (no Cargo.toml naming lamer-sdk); pass --sdk with the sdk/ directory of a lamer checkout"
    )]
    NotSdk(PathBuf),
    #[error(
        "cannot find lamer-sdk: this lamer-host was built from {0}, which has no sdk/ \
         directory any more; pass --sdk DIR (a lamer checkout's sdk/) or --sdk-git URL"
    )]
    NoSdk(PathBuf),
}

/// Names a crate cannot have: Rust keywords (the library is imported by its
/// name) and the crates the template itself uses.
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop",
    "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self",
    "static", "struct", "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized",
    "use", "virtual", "where", "while", "yield", "alloc", "core", "std", "test", "proc-macro",
    "lamer-sdk", "serde", "insta",
];

/// Checks an environment name; see [`NewArgs::name`].
pub fn validate_name(name: &str) -> Result<(), NewError> {
    let bad = || NewError::BadName(name.to_string());
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) || name.len() > 64 {
        return Err(bad());
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !name.chars().all(allowed) || name.ends_with('-') || name.contains("--") {
        return Err(bad());
    }
    if RESERVED.contains(&name) {
        return Err(NewError::ReservedName(name.to_string()));
    }
    Ok(())
}

/// Whether `dir` holds the lamer-sdk crate (its Cargo.toml names it).
fn is_sdk(dir: &Path) -> bool {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
    toml::from_str::<toml::Table>(&manifest).is_ok_and(|m| {
        m.get("package")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str)
            == Some("lamer-sdk")
    })
}

/// How the new crate depends on lamer-sdk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// A local checkout's `sdk/` directory (absolute).
    Path(PathBuf),
    /// A git repository holding the lamer workspace.
    Git(String),
}

impl SdkSource {
    /// Picks the source from the flags: `--sdk-git`, `--sdk`, else the build tree.
    pub fn resolve(sdk: Option<&Path>, git: Option<&str>) -> Result<Self, NewError> {
        Self::resolve_in(sdk, git, Path::new(BUILT_FROM))
    }

    /// [`SdkSource::resolve`] for a binary built from `built_from` (`host/`).
    fn resolve_in(
        sdk: Option<&Path>,
        git: Option<&str>,
        built_from: &Path,
    ) -> Result<Self, NewError> {
        if let Some(url) = git {
            return Ok(SdkSource::Git(url.to_string()));
        }
        let (dir, default) = match sdk {
            Some(dir) => (dir.to_path_buf(), false),
            None => (built_from.join("../sdk"), true),
        };
        if !is_sdk(&dir) {
            return Err(if default {
                NewError::NoSdk(built_from.parent().unwrap_or(built_from).to_path_buf())
            } else {
                NewError::NotSdk(dir)
            });
        }
        let dir = dir.canonicalize().map_err(|_| NewError::NotSdk(dir))?;
        Ok(SdkSource::Path(dir))
    }

    /// The dependency's value in Cargo.toml (an inline table).
    fn dependency(&self) -> String {
        match self {
            // A basic TOML string cannot hold a raw backslash or quote; a
            // literal ('…') string can, so paths stay exact on every OS.
            SdkSource::Path(_) => format!("{{ path = '{}' }}", self.location()),
            SdkSource::Git(url) => format!("{{ git = '{url}' }}"),
        }
    }

    fn location(&self) -> String {
        match self {
            SdkSource::Path(dir) => dir.display().to_string(),
            SdkSource::Git(url) => url.clone(),
        }
    }

    fn origin(&self) -> &'static str {
        match self {
            SdkSource::Path(_) => "a local lamer checkout; --sdk DIR picks another",
            SdkSource::Git(_) => "a git repository, from --sdk-git",
        }
    }
}

/// Writes the crate `name` into `dir` with lamer-sdk from `sdk`.
pub fn write_crate(name: &str, dir: &Path, sdk: &SdkSource) -> anyhow::Result<()> {
    validate_name(name)?;
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(NewError::Occupied(dir.to_path_buf()).into());
    }
    let location = sdk.location();
    anyhow::ensure!(
        !location.contains('\''),
        "the lamer-sdk location {location} holds a ' and cannot be written to Cargo.toml"
    );
    let lib = name.replace('-', "_");
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{env}}", name)
            .replace("{{lib}}", &lib)
            .replace("{{sdk_dep}}", &sdk.dependency())
            .replace("{{sdk_origin}}", sdk.origin())
    };
    for (file, template) in TEMPLATES {
        write(&dir.join(file), &fill(template))?;
    }
    write(&dir.join("Cargo.lock"), LOCKFILE)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs `lamer-host new`.
pub fn run(args: NewArgs) -> anyhow::Result<()> {
    validate_name(&args.name)?;
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    let sdk = SdkSource::resolve(args.sdk.as_deref(), args.sdk_git.as_deref())?;
    write_crate(&args.name, &dir, &sdk)?;
    let lib = args.name.replace('-', "_");
    let shown = dir.display();
    println!("created `{}` in {shown}", args.name);
    println!("next (the authoring guide: examples/keydoor/README.md):");
    println!("  cd {shown}");
    println!("  rustup target add wasm32-wasip2");
    println!("  INSTA_UPDATE=always cargo test      # accepts the first transcript snapshot");
    println!("  cargo build --profile plugin --target wasm32-wasip2");
    println!("  lamer-host check --plugin target/wasm32-wasip2/plugin/{lib}.wasm");
    println!(
        "  lamer-host train --plugin target/wasm32-wasip2/plugin/{lib}.wasm --recipe recipe.toml"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for good in ["guess", "my-env", "env2", "a1-b2"] {
            validate_name(good).unwrap();
        }
        for bad in [
            "", "My-env", "1env", "my_env", "my--env", "env-", "my env", "é",
        ] {
            let err = validate_name(bad).unwrap_err().to_string();
            assert!(err.contains("not a valid environment name"), "{bad}: {err}");
            assert_eq!(err.lines().count(), 1);
        }
        assert!(matches!(
            validate_name("fn"),
            Err(NewError::ReservedName(_))
        ));
    }

    #[test]
    fn the_build_tree_sdk_is_found_and_others_are_checked() {
        let SdkSource::Path(dir) = SdkSource::resolve(None, None).unwrap() else {
            panic!("expected a path")
        };
        assert!(dir.join("src/lib.rs").is_file());
        let elsewhere = tempfile::tempdir().unwrap();
        assert!(matches!(
            SdkSource::resolve(Some(elsewhere.path()), None),
            Err(NewError::NotSdk(_))
        ));
        // A binary whose source tree is gone says what to pass instead.
        let gone = elsewhere.path().join("host");
        let err = SdkSource::resolve_in(None, None, &gone)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--sdk DIR") && err.contains("--sdk-git URL"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
        assert_eq!(
            SdkSource::resolve(None, Some("https://example.org/lamer")).unwrap(),
            SdkSource::Git("https://example.org/lamer".into())
        );
    }

    #[test]
    fn every_placeholder_is_filled_and_occupied_dirs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = SdkSource::Path(PathBuf::from("/somewhere/sdk"));
        let out = dir.path().join("my-env");
        write_crate("my-env", &out, &sdk).unwrap();
        for (file, _) in TEMPLATES {
            let text = std::fs::read_to_string(out.join(file)).unwrap();
            assert!(!text.contains("{{"), "{file} keeps a placeholder");
        }
        let manifest = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("lamer-sdk = { path = '/somewhere/sdk' }"));
        assert!(manifest.contains("name = \"my_env\""));
        let err = write_crate("my-env", &out, &sdk).unwrap_err().to_string();
        assert!(err.contains("already exists and is not empty"), "{err}");
        let git = SdkSource::Git("https://example.org/lamer".into());
        let out = dir.path().join("from-git");
        write_crate("from-git", &out, &git).unwrap();
        let manifest = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("lamer-sdk = { git = 'https://example.org/lamer' }"));
        // The manifest is valid TOML with its own workspace and plugin profile.
        let manifest: toml::Table = toml::from_str(&manifest).unwrap();
        assert!(manifest.contains_key("workspace"));
        assert_eq!(
            manifest["profile"]["plugin"]["inherits"].as_str(),
            Some("release")
        );
        assert!(manifest["dev-dependencies"].get("insta").is_some());
    }
}
