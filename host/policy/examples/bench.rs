//! Policy throughput benchmark.
//!
//! CPU (the built-in tiny model):
//!   cargo run --release -p lamer-policy --example bench
//! GPU (random Qwen3-4B weights; see scripts/cuda-build.sh):
//!   bench --config qwen3-4b --device cuda:0 --dtype bf16 --batch 1,32,128
//! The same random weights for another framework (a Hugging Face directory):
//!   bench --config qwen3-4b --device cuda:0 --dtype bf16 --save-model DIR
//! `--format jsonl` prints one JSON object per line instead of the table, each
//! figure as it is measured (so a run stopped by a timeout keeps what it
//! measured), for scripts (scripts/gpu-check.sh).

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
    /// Batch sizes for prefill and decode (empty for none).
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    batch: Vec<String>,
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
    /// Write a random-initialised model of --config in --dtype (with the
    /// tiny model's tokenizer) as a Hugging Face directory here, then stop.
    #[arg(long, value_name = "DIR")]
    save_model: Option<std::path::PathBuf>,
    /// markdown (a table) or jsonl (one JSON object per figure, then one
    /// summary object); either prints each figure as it is measured.
    #[arg(long, default_value = "markdown")]
    format: Format,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Format {
    Markdown,
    Jsonl,
}

/// Polls `nvidia-smi` for the GPU memory in use while benchmarks run. `peak`
/// is the most seen since the last reset (each measurement resets it, so
/// each gets its own peak); `overall` the most seen at all. nvidia-smi counts
/// the whole device (our CUDA context and allocator cache included), which
/// is what decides whether a run fits.
fn poll_gpu_memory(stop: Arc<AtomicBool>, peak: Arc<AtomicU64>, overall: Arc<AtomicU64>) {
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
                    peak.fetch_max(mib, Ordering::Relaxed);
                    overall.fetch_max(mib, Ordering::Relaxed);
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
    options.batch_sizes = args
        .batch
        .iter()
        .filter(|b| !b.is_empty())
        .map(|b| {
            b.parse()
                .with_context(|| format!("--batch: {b:?} is not a batch size"))
        })
        .collect::<Result<_>>()?;
    options.prompt_len = args.prompt_len;
    options.decode_tokens = args.decode_tokens;
    options.train_rows = args.train_rows;
    options.train_prompt_len = args.train_prompt_len;
    options.train_response_len = args.train_response_len;
    options.repeats = args.repeats;
    options.activation_checkpointing = args.checkpoint;
    if let Some(spec) = &args.model {
        let dir = lamer_policy::ModelSource::parse(Some(spec)).resolve()?;
        if args.format == Format::Markdown {
            println!("model dir: {}", dir.display());
        }
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

    if let Some(dir) = &args.save_model {
        let start = std::time::Instant::now();
        lamer_policy::bench::save_random_model(&options.config, dir, &device, dtype)
            .with_context(|| format!("cannot write the model to {}", dir.display()))?;
        let secs = start.elapsed().as_secs_f64();
        match args.format {
            Format::Markdown => println!("wrote {} in {secs:.1} s", dir.display()),
            Format::Jsonl => println!(
                "{}",
                serde_json::json!({
                    "saved": dir.display().to_string(),
                    "parameters": options.config.parameter_count(),
                    "seconds": secs,
                })
            ),
        }
        return Ok(());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let overall = Arc::new(AtomicU64::new(0));
    let poller = (!device.is_cpu()).then(|| {
        let (stop, peak, overall) = (stop.clone(), peak.clone(), overall.clone());
        std::thread::spawn(move || poll_gpu_memory(stop, peak, overall))
    });
    let markdown = args.format == Format::Markdown;
    if markdown {
        println!(
            "config {} ({} parameters), device {}, dtype {}",
            args.config,
            options.config.parameter_count(),
            args.device,
            args.dtype
        );
        println!("| measurement | value |\n|---|---|");
    }
    run(&options, |m| {
        // The peak since the previous figure: this measurement's.
        let gpu_mib = poller.as_ref().map(|_| peak.swap(0, Ordering::Relaxed));
        if markdown {
            match gpu_mib {
                Some(mib) => println!("{m} (GPU peak {mib} MiB)"),
                None => println!("{m}"),
            }
        } else {
            println!(
                "{}",
                serde_json::json!({
                    "name": m.name,
                    "value": m.value,
                    "unit": m.unit,
                    "gpu_peak_mib": gpu_mib,
                })
            );
        }
    })
    .context("benchmark failed")?;
    stop.store(true, Ordering::Relaxed);
    let gpu_overall = poller.map(|p| {
        let _ = p.join();
        overall.load(Ordering::Relaxed)
    });
    if markdown {
        if let Some(mib) = gpu_overall {
            println!("| GPU memory used, peak (nvidia-smi, all runs) | {mib} MiB |");
        }
    } else {
        println!(
            "{}",
            serde_json::json!({
                "summary": {
                    "config": args.config,
                    "model": options.model_dir.as_ref().map(|d| d.display().to_string()),
                    "parameters": options.config.parameter_count(),
                    "device": args.device,
                    "dtype": args.dtype,
                    "gpu_peak_mib": gpu_overall,
                }
            })
        );
    }
    Ok(())
}
