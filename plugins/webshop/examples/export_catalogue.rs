//! Writes the generated catalogue in WebShop's file schema, plus the benchmark
//! queries, for the Python baseline (`bench/webshop/bm25_baseline.py`):
//!
//! ```text
//! cargo run --release -p lamer-plugin-webshop --example export_catalogue -- OUT_DIR [SEED]
//! ```
//!
//! OUT_DIR receives `items_shuffle_1000.json`, `items_ins_v2_1000.json` and
//! `queries.json` (the instructions of the first 100 test goals). The two
//! item files also load with `"catalogue": "data-dir"`.

use std::path::PathBuf;

use anyhow_free::Result;
use webshop::catalogue::{ATTRIBUTES_FILE, PRODUCTS_FILE};
use webshop::generate::generate;
use webshop::world::{Source, World};

/// A tiny stand-in for `anyhow` so the example needs no extra dependency.
mod anyhow_free {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let out: PathBuf = args
        .next()
        .ok_or("usage: export_catalogue OUT_DIR [SEED]")?
        .into();
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    std::fs::create_dir_all(&out)?;
    let files = generate(seed);
    std::fs::write(
        out.join(PRODUCTS_FILE),
        serde_json::to_string(&files.products)?,
    )?;
    std::fs::write(
        out.join(ATTRIBUTES_FILE),
        serde_json::to_string(&files.attributes)?,
    )?;
    let world = World::build(&Source::Generated, seed)?;
    let queries: Vec<&str> = world.goals[..100]
        .iter()
        .map(|g| g.instruction.as_str())
        .collect();
    std::fs::write(out.join("queries.json"), serde_json::to_string(&queries)?)?;
    println!(
        "wrote {} products and {} queries to {}",
        files.products.len(),
        queries.len(),
        out.display()
    );
    Ok(())
}
