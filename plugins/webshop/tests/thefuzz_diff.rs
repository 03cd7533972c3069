//! Differential test: `fuzz::token_set_ratio` against Python's thefuzz 0.22.1.
//!
//! Generates a few thousand string pairs, scores them with
//! `bench/webshop/thefuzz_oracle.py` (run with `$LAMER_PYTHON`, else
//! `python3`) and requires identical scores. Without thefuzz installed the
//! test fails and says how to install it.

use std::io::Write;
use std::process::{Command, Stdio};

use lamer_sdk::SeededRng;
use webshop::fuzz::{python_tuple_str, token_set_ratio};

const WORDS: &[&str] = &[
    "large",
    "x-large",
    "xx-large",
    "small",
    "pack",
    "of",
    "12",
    "2",
    "3",
    "count",
    "ounce",
    "(pack of 1)",
    "navy",
    "blue",
    "Navy Blue",
    "machine",
    "wash",
    "Machine-Wash",
    "long",
    "lasting",
    "long-lasting",
    "caf\u{e9}",
    "na\u{ef}ve",
    "\u{203a}",
    "men's",
    "women's",
    "abc",
    "abd",
    "abcd",
    "bcd",
    "xy",
    "z",
    "",
    "  ",
    "/",
    "8.5",
    "16oz",
    "stainless",
    "steel",
    "steal",
    "color",
    "size",
    "dark",
    "roast",
    "grey",
    "gray",
    "\u{fc}ber",
    "\u{4e2d}\u{6587}",
    "A|B",
];

fn random_word(rng: &mut SeededRng) -> String {
    if rng.chance(0.25) {
        // Short random letter strings exercise the Indel alignment.
        let len = 1 + rng.index(7);
        (0..len)
            .map(|_| ['a', 'b', 'c', 'd', 'e', 'x'][rng.index(6)])
            .collect()
    } else {
        WORDS[rng.index(WORDS.len())].to_string()
    }
}

fn random_phrase(rng: &mut SeededRng) -> String {
    let n = rng.index(6);
    let words: Vec<String> = (0..n).map(|_| random_word(rng)).collect();
    words.join(if rng.chance(0.8) { " " } else { ", " })
}

fn pairs() -> Vec<(String, String)> {
    let mut rng = SeededRng::new(2024);
    let mut out = Vec::new();
    for i in 0..3000 {
        let a = random_phrase(&mut rng);
        let b = match i % 4 {
            // A goal option as the reward feeds it: str(tuple).
            0 => python_tuple_str(&random_word(&mut rng), &random_phrase(&mut rng)),
            // Overlapping token sets.
            1 => format!("{} {}", a, random_phrase(&mut rng)),
            _ => random_phrase(&mut rng),
        };
        out.push((a, b));
    }
    out
}

#[test]
fn token_set_ratio_matches_thefuzz() {
    let python = std::env::var("LAMER_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/webshop/thefuzz_oracle.py"
    );
    let pairs = pairs();
    let input: String = pairs
        .iter()
        .map(|(a, b)| serde_json::to_string(&[a, b]).unwrap() + "\n")
        .collect();
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{python}` ({e}); set LAMER_PYTHON to a python3"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the thefuzz oracle failed: {}\nInstall it with `pip install thefuzz==0.22.1`, or run \
         `python3 bench/webshop/thefuzz_oracle.py --setup` and set LAMER_PYTHON to the python it \
         prints.",
        String::from_utf8_lossy(&output.stderr)
    );
    let scores: Vec<u32> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(scores.len(), pairs.len());
    let mut mismatches = Vec::new();
    let mut distinct = std::collections::BTreeSet::new();
    for ((a, b), expected) in pairs.iter().zip(&scores) {
        distinct.insert(*expected);
        let got = token_set_ratio(a, b);
        if got != *expected {
            mismatches.push(format!("{a:?} vs {b:?}: rust {got}, thefuzz {expected}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} pairs differ, e.g.:\n{}",
        mismatches.len(),
        pairs.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
    // The pairs must exercise the whole range, not just 0 and 100.
    assert!(
        distinct.len() > 30,
        "only {} distinct scores",
        distinct.len()
    );
}
