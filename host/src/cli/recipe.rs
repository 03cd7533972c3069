//! `lamer-host recipe`: the built-in training recipes, printed exactly as
//! they are embedded, so a user can start a recipe of their own from one.
//! A recipe file needs only the keys it changes: the rest layer over the
//! built-in recipe of the plugin's environment, or over the generic default
//! (`recipe show default`). Every key: docs/recipes.md.

use clap::Subcommand;

use crate::train::recipe::{BUILTIN_RECIPES, builtin_text};

/// Subcommands of `lamer-host recipe`.
#[derive(Debug, Subcommand)]
pub enum RecipeCommand {
    /// Print a built-in recipe's TOML: an environment's (`keydoor`, `sokoban`, …)
    /// or `default`, the generic default that recipes of other environments layer over.
    Show {
        /// The environment name, or `default`.
        env: String,
    },
    /// List the built-in recipes.
    List,
}

/// The names `recipe show` accepts.
fn known() -> String {
    let mut names: Vec<&str> = BUILTIN_RECIPES.iter().map(|(n, _)| *n).collect();
    names.push("default");
    names.join(", ")
}

/// Runs `lamer-host recipe`.
pub fn run(command: RecipeCommand) -> anyhow::Result<()> {
    match command {
        RecipeCommand::Show { env } => {
            let text = builtin_text(&env)
                .ok_or_else(|| anyhow::anyhow!("no built-in recipe `{env}`; known: {}", known()))?;
            print!("{text}");
        }
        RecipeCommand::List => {
            for (name, _) in BUILTIN_RECIPES {
                println!("{name:<12} examples/recipes/{name}.toml");
            }
            println!(
                "{:<12} the generic default for environments without a recipe",
                "default"
            );
        }
    }
    Ok(())
}
