//! Policy throughput benchmark.
//!
//! CPU (the built-in tiny model):
//!   cargo run --release -p lamer-policy --example bench
//! GPU (random Qwen3-4B weights; see scripts/cuda-build.sh):
//!   bench --config qwen3-4b --device cuda:0 --dtype bf16 --batch 1,32,128

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{Context, Result};
use clap::Parser;
use lamer_policy::bench::{BenchOptions, named_config, run};
use lamer_policy::loading::{parse_device, parse_dtype};
use lamer_policy::{LoraConfig, TrainMode};

#[derive(Parser, Debug)]
#[command(about = "Measure prefill/decode throughput and a training micro-step")]
struct Args {
    /// tiny, qwen3-0.6b or qwen3-4b (random weights).
    #[arg(long, default_value = "tiny")]
    config: String,
    /// cpu or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Batch sizes for prefill and decode.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    batch: Vec<usize>,
    #[arg(long, default_value_t = 256)]
    prompt_len: usize,
    #[arg(long, default_value_t = 32)]
    decode_tokens: usize,
    #[arg(long, default_value_t = 4)]
    train_rows: usize,
    #[arg(long, default_value_t = 256)]
    train_prompt_len: usize,
    #[arg(long, default_value_t = 64)]
    train_response_len: usize,
    /// Training modes to time: lora, full (comma-separated; empty for none).
    #[arg(long, value_delimiter = ',', default_value = "lora,full")]
    train: Vec<String>,
    #[arg(long, default_value_t = 16)]
    lora_rank: usize,
    #[arg(long, default_value_t = 2)]
    repeats: usize,
    /// Recompute decoder layers in backward in the training micro-step
    /// (activation checkpointing).
    #[arg(long)]
    checkpoint: bool,
    /// Decoder layers of the random config (default: the config's).
    #[arg(long)]
    layers: Option<usize>,
    /// Load these weights instead of random ones: a Hugging Face model
    /// directory, or `tiny` for the built-in tiny model (its directory is
    /// printed, so another framework can load the same weights).
    #[arg(long)]
    model: Option<String>,
}

/// Polls `nvidia-smi` for the most GPU memory used while benchmarks run.
fn poll_gpu_memory(stop: Arc<AtomicBool>, peak_mib: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        let out = std::process::Command::new("nvidia-smi")
            .args(["--query-gpu=memory.used", "--format=csv,noheader,nounits"])
            .output();
        match out {
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                if let Some(mib) = text
                    .lines()
                    .next()
                    .and_then(|l| l.trim().parse::<u64>().ok())
                {
                    peak_mib.fetch_max(mib, Ordering::Relaxed);
                }
            }
            Err(_) => return,
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn main() -> Result<()> {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { lamer_policy::threads::init_cpu_threads() };
    lamer_policy::allocator::tune_allocator();
    let args = Args::parse();
    let device = parse_device(&args.device)?;
    let dtype = parse_dtype(&args.dtype)?;
    let mut config = named_config(&args.config)?;
    if let Some(layers) = args.layers {
        config.num_hidden_layers = layers;
    }
    let mut options = BenchOptions::new(config, device.clone(), dtype);
    options.batch_sizes = args.batch.clone();
    options.prompt_len = args.prompt_len;
    options.decode_tokens = args.decode_tokens;
    options.train_rows = args.train_rows;
    options.train_prompt_len = args.train_prompt_len;
    options.train_response_len = args.train_response_len;
    options.repeats = args.repeats;
    options.activation_checkpointing = args.checkpoint;
    if let Some(spec) = &args.model {
        let dir = lamer_policy::ModelSource::parse(Some(spec)).resolve()?;
        println!("model dir: {}", dir.display());
        options.config = lamer_policy::loading::ModelFiles::locate(&dir)?.read_config()?;
        options.model_dir = Some(dir);
    }
    options.train_modes = args
        .train
        .iter()
        .filter(|m| !m.is_empty())
        .map(|m| match m.as_str() {
            "lora" => Ok(TrainMode::Lora(LoraConfig {
                rank: args.lora_rank,
                alpha: 2.0 * args.lora_rank as f64,
                ..Default::default()
            })),
            "full" => Ok(TrainMode::Full),
            other => anyhow::bail!("unknown training mode {other:?}; use lora or full"),
        })
        .collect::<Result<_>>()?;

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let poller = (!device.is_cpu()).then(|| {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || poll_gpu_memory(stop, peak))
    });
    println!(
        "config {} ({} parameters), device {}, dtype {}",
        args.config,
        options.config.parameter_count(),
        args.device,
        args.dtype
    );
    println!("| measurement | value |\n|---|---|");
    run(&options, |m| println!("{m}")).context("benchmark failed")?;
    stop.store(true, Ordering::Relaxed);
    if let Some(p) = poller {
        let _ = p.join();
        println!(
            "| GPU memory used, peak (nvidia-smi, all runs) | {} MiB |",
            peak.load(Ordering::Relaxed)
        );
    }
    Ok(())
}
