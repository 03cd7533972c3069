//! The Rust half of `scripts/hf-parity/run.sh`: writes our exports, samples
//! continuations for `transformers` to score, and checks cases against what
//! `transformers` recorded.
//!
//! ```text
//! hf_parity export ROOT                       # lamer_policy::parity::EXPORTS under ROOT
//! hf_parity sample CASE_DIR --exports ROOT    # writes CASE_DIR/samples.json
//! hf_parity check CASE_DIR... --exports ROOT [--dtype f32|bf16] [--strict]
//! ```
//!
//! `check` prints one JSON report per case; with `--strict` it fails when a
//! case is outside its tolerance.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use lamer_policy::parity::{self, SAMPLES_FILE};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Export {
        root: PathBuf,
    },
    Sample {
        case: PathBuf,
        #[arg(long)]
        exports: PathBuf,
    },
    Check {
        cases: Vec<PathBuf>,
        #[arg(long)]
        exports: PathBuf,
        #[arg(long, default_value = "f32")]
        dtype: String,
        #[arg(long)]
        strict: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Export { root } => parity::write_exports(&root)?,
        Command::Sample { case, exports } => {
            let (reference, _) = parity::read_case(&case)?;
            let model =
                parity::load_case_model(&reference, &case, &exports, lamer_policy::DType::F32)?;
            let samples = parity::sample(&model, &reference.samples)?;
            let path = case.join(SAMPLES_FILE);
            std::fs::write(&path, serde_json::to_string_pretty(&samples)?)
                .with_context(|| path.display().to_string())?;
        }
        Command::Check {
            cases,
            exports,
            dtype,
            strict,
        } => {
            let dtype = lamer_policy::loading::parse_dtype(&dtype)?;
            let mut failed = Vec::new();
            for case in cases {
                let (reference, tensors) = parity::read_case(&case)?;
                let model = parity::load_case_model(&reference, &case, &exports, dtype)?;
                let report = parity::check_case(&model, &reference, &tensors)?;
                println!("{}", serde_json::to_string(&report)?);
                if !report.passes(reference.tolerance) {
                    failed.push(reference.case);
                }
            }
            if strict && !failed.is_empty() {
                bail!("outside tolerance: {}", failed.join(", "));
            }
        }
    }
    Ok(())
}
