//! `lamer-host inspect`: what a plugin is, before you run it.
//!
//! With `--config JSON` it also validates that config the way every run
//! does, by opening a session with it (a config the plugin rejects fails
//! with the plugin's one-line reason), and shows the effective config: the
//! plugin's defaults with the given keys replacing theirs, as the SDK merges
//! them.

use anyhow::Context;
use clap::Args;
use lamer_plugin::EnvFactory;
use serde_json::Value;

use super::plugin_args::PluginArgs;
use super::terminal::safe_text;

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// Output format (in JSON, `effective_config` is the config --config
    /// gives a session).
    #[command(flatten)]
    pub output: super::output_args::FormatArgs,
}

/// The config a session opened with `given` runs with, after the plugin
/// accepted it: `defaults` with the given top-level keys replacing theirs.
pub fn effective_config(
    factory: &dyn EnvFactory,
    defaults: &Value,
    given: &str,
) -> anyhow::Result<Value> {
    factory
        .open(given)
        .map_err(|e| anyhow::anyhow!("the plugin rejects the config {}: {e}", given.trim()))?;
    let mut merged = defaults.clone();
    if given.trim().is_empty() {
        return Ok(merged);
    }
    let given: Value = serde_json::from_str(given).context("the config is not JSON")?;
    if let (Value::Object(merged), Value::Object(given)) = (&mut merged, given) {
        merged.extend(given);
    }
    Ok(merged)
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let plugin = args.plugin.load()?;
    let info = plugin.info();
    let config: serde_json::Value = serde_json::from_str(&info.default_config)
        .unwrap_or(serde_json::Value::String(info.default_config.clone()));
    let given = args.plugin.config_json()?;
    let effective = effective_config(&plugin, &config, &given)?;
    let imports = plugin.imports();
    if args.output.is_json() {
        let out = serde_json::json!({
            "path": plugin.path(),
            "name": info.name,
            "version": info.version,
            "description": info.description,
            "default_max_turns": info.default_max_turns,
            "splits": info.splits,
            "default_config": config,
            "effective_config": effective,
            "wasi_imports": imports,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{} {}", info.name, info.version);
    println!("  {}", safe_text(&info.description));
    println!("file: {}", plugin.path().display());
    println!("default turns per attempt: {}", info.default_max_turns);
    println!("splits:");
    for split in &info.splits {
        let kind = if split.procedural {
            "procedural"
        } else {
            "fixed"
        };
        println!(
            "  {:<12} {:>12} tasks ({kind})  {}",
            safe_text(&split.name),
            split.task_count,
            safe_text(&split.description)
        );
    }
    if effective == config {
        println!("config defaults:");
    } else {
        println!("effective config (the defaults with --config applied; the plugin accepts it):");
    }
    println!("{}", indent(&serde_json::to_string_pretty(&effective)?));
    println!("WASI imports ({}):", imports.len());
    for import in imports {
        println!("  {import}");
    }
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
