//! Replays transcripts recorded from the real engine (TextWorld 1.7.0 + ALFWorld 0.4.2, by
//! `bench/alfworld/difftest.py --fixtures N`) against ours: same generated game, same
//! commands; the intro, every observation, `won` and every admissible list (with `help`)
//! must match exactly. The fixtures cover every generated split (train, test, ood).

use std::path::Path;

use alfworld::AlfWorld;
use lamer_sdk::{Session, Task};
use serde::Deserialize;

#[derive(Deserialize)]
struct Record {
    command: String,
    observation: String,
    won: bool,
    admissible: Vec<String>,
}

#[derive(Deserialize)]
struct Fixture {
    split: String,
    index: u64,
    intro: String,
    admissible: Vec<String>,
    steps: Vec<Record>,
}

fn full_admissible(session: &Session<AlfWorld>) -> Vec<String> {
    let env = session.env();
    let (game, state) = (env.game().unwrap(), env.state().unwrap());
    game.world
        .admissible(state)
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

#[test]
fn our_engine_reproduces_recorded_textworld_transcripts() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/textworld");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "expected recorded fixtures in {}",
        folder.display()
    );
    let mut steps = 0;
    let mut splits = std::collections::BTreeSet::new();
    for file in files {
        let fixture: Fixture =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let name = file.display();
        splits.insert(fixture.split.clone());
        let mut session = Session::<AlfWorld>::open(r#"{"max_turns": 50}"#).unwrap();
        let reset = session
            .reset(&Task::new(fixture.split.clone(), fixture.index))
            .unwrap();
        assert_eq!(reset.observation, fixture.intro, "{name}: intro");
        assert_eq!(
            full_admissible(&session),
            fixture.admissible,
            "{name}: admissible at reset"
        );
        for (k, record) in fixture.steps.iter().enumerate() {
            let r = session.step(&record.command).unwrap();
            assert_eq!(
                r.observation,
                record.observation,
                "{name}: step {} `{}`",
                k + 1,
                record.command
            );
            assert_eq!(r.won, record.won, "{name}: step {} won", k + 1);
            if !session.is_over() {
                assert_eq!(
                    full_admissible(&session),
                    record.admissible,
                    "{name}: step {} admissible",
                    k + 1
                );
            }
            steps += 1;
        }
    }
    assert!(steps > 60);
    assert_eq!(
        splits.into_iter().collect::<Vec<_>>(),
        ["ood", "test", "train"],
        "every generated split needs recorded fixtures"
    );
}
