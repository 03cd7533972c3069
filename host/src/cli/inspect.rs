//! `lamer-host inspect`: what a plugin is, before you run it.

use clap::Args;
use lamer_plugin::EnvFactory;

use super::plugin_args::PluginArgs;
use super::terminal::safe_text;

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// Print the information as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let plugin = args.plugin.load()?;
    let info = plugin.info();
    let config: serde_json::Value = serde_json::from_str(&info.default_config)
        .unwrap_or(serde_json::Value::String(info.default_config.clone()));
    let imports = plugin.imports();
    if args.json {
        let out = serde_json::json!({
            "path": plugin.path(),
            "name": info.name,
            "version": info.version,
            "description": info.description,
            "default_max_turns": info.default_max_turns,
            "splits": info.splits,
            "default_config": config,
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
    println!("config defaults:");
    println!("{}", indent(&serde_json::to_string_pretty(&config)?));
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
