//! `scripts/gpu-check.sh --cpu-smoke`: the GPU check's every part runs on
//! the CPU with the tiny model's shape, and its JSON holds each part with a
//! status and numeric figures. The GPU run itself happens only on a lent GPU
//! machine; this keeps the script from rotting in between.
//!
//! It runs the release builds of `lamer-host` (this package's binary) and of
//! lamer-policy's `bench` example (built by `cargo test --workspace`, which
//! compiles examples before any test runs) and the Sokoban plugin of the test
//! build. The transformers part runs when `LAMER_TORCH_PYTHON` names an
//! interpreter with torch and transformers; otherwise it must say `skipped`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ lives in the repository")
        .to_path_buf()
}

/// `<target>/release/examples/bench`, beside this test's `lamer-host`.
fn bench_example() -> PathBuf {
    let host = Path::new(env!("CARGO_BIN_EXE_lamer-host"));
    let bench = host
        .parent()
        .expect("lamer-host lives in a profile directory")
        .join("examples")
        .join("bench");
    assert!(
        bench.is_file(),
        "{} is missing: build it with `cargo build --release -p lamer-policy --example bench` \
         (`cargo test --release --workspace` does)",
        bench.display()
    );
    bench
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

#[test]
fn cpu_smoke_writes_every_part_with_status_and_figures() {
    let out = tempfile::tempdir().unwrap();
    let torch = std::env::var("LAMER_TORCH_PYTHON").ok();
    let run = Command::new("bash")
        .arg(repo_root().join("scripts/gpu-check.sh"))
        .arg("--cpu-smoke")
        .arg(out.path())
        .env("BENCH", bench_example())
        .env("LAMER_HOST", env!("CARGO_BIN_EXE_lamer-host"))
        .env("SOKOBAN", lamer_tests::plugin_path("sokoban"))
        // Without torch the transformers part is skipped, which CI's venv does.
        .env("PYTHON", torch.as_deref().unwrap_or("python3"))
        .env("TMPDIR", out.path())
        .output()
        .expect("bash runs");
    assert!(
        run.status.success(),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let log = std::fs::read_to_string(out.path().join("gpu-check.log")).unwrap();
    let text = std::fs::read_to_string(out.path().join("gpu-check.json")).unwrap();
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["mode"], "cpu-smoke");
    let parts = &report["parts"];
    for name in [
        "launch",
        "save_4b",
        "decode",
        "torch_decode",
        "train_micro",
        "save_06b",
        "host_train",
    ] {
        let status = parts[name]["status"].as_str().unwrap_or("none");
        if name == "torch_decode" && torch.is_none() {
            assert!(
                status == "ok" || status == "skipped",
                "{name}: {status}\n{log}"
            );
            continue;
        }
        assert_eq!(status, "ok", "{name}: {}\n{log}", parts[name]);
        assert!(number(&parts[name]["seconds"]) >= 0.0);
    }

    // Decode: prefill and decode tok/s at each smoke batch, all positive.
    let decode = parts["decode"]["measurements"].as_array().unwrap();
    for batch in [1, 4] {
        for kind in ["prefill", "decode"] {
            let m = decode
                .iter()
                .find(|m| {
                    let name = m["name"].as_str().unwrap();
                    name.starts_with(&format!("{kind}, batch {batch} "))
                })
                .unwrap_or_else(|| panic!("no {kind} at batch {batch}: {decode:?}"));
            assert_eq!(m["unit"], "tok/s");
            assert!(number(&m["value"]) > 0.0, "{m}");
        }
    }
    // Training micro-steps: LoRA and full, in ms.
    let train = parts["train_micro"]["measurements"].as_array().unwrap();
    for mode in ["LoRA", "full"] {
        let m = train
            .iter()
            .find(|m| m["name"].as_str().unwrap().contains(&format!("({mode}")))
            .unwrap_or_else(|| panic!("no {mode} step: {train:?}"));
        assert_eq!(m["unit"], "ms");
        assert!(number(&m["value"]) > 0.0, "{m}");
    }
    // The saved model directories, and two timed steps of `lamer-host train`.
    for save in ["save_4b", "save_06b"] {
        assert!(number(&parts[save]["figures"]["bytes"]) > 0.0);
        assert!(number(&parts[save]["figures"]["parameters"]) > 0.0);
    }
    let steps = parts["host_train"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    for step in steps {
        assert!(number(&step["timing_s/step"]) > 0.0, "{step}");
        assert!(number(&step["train/tokens"]) > 0.0, "{step}");
    }
    if parts["torch_decode"]["status"] == "ok" {
        assert!(number(&report["ratios"]["decode, batch 4"]) > 0.0);
    }
}
