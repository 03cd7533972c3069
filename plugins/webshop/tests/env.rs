//! Session-level tests: splits, restart, the expert, invalid actions and
//! the LaMer observation format.

use lamer_sdk::{EnvError, Environment, Session, Task, Transcript};
use webshop::shop::Page;
use webshop::world::{Source, World};
use webshop::{TRAIN_GOALS, WebShop, brief};

fn session() -> Session<WebShop> {
    Session::open("{}").unwrap()
}

#[test]
fn train_split_count_matches_the_default_catalogue() {
    let world = World::build(&Source::Generated, 0).unwrap();
    assert_eq!(world.catalogue.products.len(), 1000);
    assert_eq!(world.goals.len() as u64, 500 + TRAIN_GOALS);
    let info = webshop::WebShop::info();
    assert_eq!(info.split("test").unwrap().task_count, 500);
    assert_eq!(info.split("train").unwrap().task_count, TRAIN_GOALS);
}

#[test]
fn reset_returns_the_instruction_and_restart_restores_it_after_a_purchase() {
    let mut s = session();
    let start = s.reset(&Task::new("test", 3)).unwrap();
    let instruction = s.env().shop().unwrap().instruction().to_string();
    assert_eq!(start.observation, instruction);
    // Play the expert to the purchase.
    while let Some(a) = s.expert_action().unwrap() {
        s.step(&a).unwrap();
    }
    assert!(matches!(s.env().shop().unwrap().page(), Page::Done(_)));
    assert_eq!(s.step("search[x]"), Err(EnvError::EpisodeOver));
    // Restart returns to the same goal on the search page.
    let again = s.restart().unwrap();
    assert_eq!(again, start);
    let shop = s.env().shop().unwrap();
    assert_eq!(shop.page(), &Page::Search);
    assert_eq!(shop.instruction(), instruction);
    assert_eq!(
        s.admissible_actions().unwrap(),
        vec!["search[<your query>]", "click[search]"]
    );
}

#[test]
fn out_of_range_and_unknown_splits() {
    let mut s = session();
    assert!(matches!(
        s.reset(&Task::new("test", 500)),
        Err(EnvError::TaskOutOfRange(_))
    ));
    assert!(matches!(
        s.reset(&Task::new("valid", 0)),
        Err(EnvError::UnknownSplit(_))
    ));
    assert!(s.reset(&Task::new("train", TRAIN_GOALS - 1)).is_ok());
}

#[test]
fn config_errors_are_actionable() {
    let err = Session::<WebShop>::open(
        r#"{"catalogue": "data-dir", "data_dir": "/nonexistent/webshop"}"#,
    )
    .err()
    .unwrap();
    assert!(
        matches!(&err, EnvError::DataUnavailable(m) if m.contains("items_shuffle_1000.json")),
        "{err}"
    );
    assert!(matches!(
        Session::<WebShop>::open(r#"{"catalogue": "amazon"}"#).err(),
        Some(EnvError::InvalidConfig(_))
    ));
    assert!(matches!(
        Session::<WebShop>::open(r#"{"max_turns": 0}"#).err(),
        Some(EnvError::InvalidConfig(_))
    ));
}

#[test]
fn unknown_clicks_are_silent_no_ops() {
    let mut s = session();
    s.reset(&Task::new("test", 0)).unwrap();
    let first = s.step("search[hoodie]").unwrap();
    for junk in [
        "click[buy now]",
        "click[search]",
        "click[nothing]",
        "search[]",
        "hello",
        "",
    ] {
        let mut fresh = s.clone();
        let r = fresh.step(junk).unwrap();
        // Valid as in LaMer (only missing tags are invalid), but a no-op.
        assert!(r.action_valid, "{junk}");
        assert_eq!(r.info_value("no_op"), Some("true"), "{junk}");
        assert_eq!(r.reward, 0.0);
        assert_eq!(r.observation, first.observation, "{junk}");
        assert!(!r.terminated);
    }
}

#[test]
fn actions_are_lower_cased_like_lamer() {
    let mut s = session();
    s.reset(&Task::new("test", 0)).unwrap();
    let upper = s.clone().step("SEARCH[Fleece HOODIE]").unwrap();
    let lower = s.step("search[fleece hoodie]").unwrap();
    assert_eq!(upper.info_value("no_op"), Some("false"));
    assert_eq!(upper.observation, lower.observation);
    assert_eq!(upper.action_echo, "search[fleece hoodie]");
}

#[test]
fn observations_are_quoted_after_the_instruction_and_raw_is_in_info() {
    let mut s = session();
    s.reset(&Task::new("test", 1)).unwrap();
    let instruction = s.env().shop().unwrap().instruction().to_string();
    let r = s.step("search[mug]").unwrap();
    let raw = r.info_value("raw_observation").unwrap();
    assert!(raw.starts_with(&format!(
        "Instruction: [SEP] {instruction} [SEP] Back to Search"
    )));
    assert!(
        r.observation
            .starts_with("'Back to Search' [SEP] 'Page 1 (Total results: ")
    );
    assert_eq!(r.info_value("task_score"), Some("0.0"));
    // Back to search shows only the search button.
    let back = s.step("click[back to search]").unwrap();
    assert_eq!(back.observation, "'Search'");
}

#[test]
fn brief_observation_keeps_fifteen_items() {
    let long: Vec<String> = (0..20).map(|i| format!("'{i}'")).collect();
    let text = long.join(" [SEP] ");
    let short = brief(&text);
    assert!(short.ends_with("'14' ... (5 more)"), "{short}");
    assert_eq!(brief("'a' [SEP] 'b'"), "'a' [SEP] 'b'");
    assert_eq!(<WebShop as Environment>::brief_observation(&text), short);
}

#[test]
fn expert_scores_one_on_test_goals() {
    // The full 500-goal measurement is in the benchmark; here a sample.
    let mut perfect = 0;
    for index in 0..100 {
        let t = Transcript::record_expert::<WebShop>("{}", &Task::new("test", index)).unwrap();
        let last = t.steps.last().unwrap();
        assert!(
            t.steps.len() <= 12,
            "goal {index} took {} turns",
            t.steps.len()
        );
        if t.won() {
            assert_eq!(last.result.reward, 10.0);
            assert_eq!(last.result.info_value("task_score"), Some("1.0"));
            perfect += 1;
        }
    }
    assert!(perfect >= 95, "expert won {perfect} of 100");
}

#[test]
fn worlds_are_shared_between_sessions() {
    let a = session();
    let b = session();
    assert!(std::ptr::eq(a.env().world(), b.env().world()));
}

#[test]
fn data_dir_loader_reads_webshop_files() {
    // The generated catalogue written in WebShop's schema loads back through
    // the data-dir path into the same world.
    let dir = tempfile::tempdir().unwrap();
    let files = webshop::generate::generate(0);
    std::fs::write(
        dir.path().join(webshop::catalogue::PRODUCTS_FILE),
        serde_json::to_string(&files.products).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join(webshop::catalogue::ATTRIBUTES_FILE),
        serde_json::to_string(&files.attributes).unwrap(),
    )
    .unwrap();
    let config = serde_json::json!({
        "catalogue": "data-dir",
        "data_dir": dir.path().to_str().unwrap(),
    })
    .to_string();
    let mut s = Session::<WebShop>::open(&config).unwrap();
    let generated = World::build(&Source::Generated, 0).unwrap();
    assert_eq!(s.env().world().catalogue, generated.catalogue);
    assert_eq!(s.env().world().goals, generated.goals);
    s.reset(&Task::new("test", 0)).unwrap();
    let mut won = false;
    while let Some(a) = s.expert_action().unwrap() {
        won = s.step(&a).unwrap().won;
    }
    assert!(won);
    // A malformed file is reported with its name.
    std::fs::write(
        dir.path().join(webshop::catalogue::ATTRIBUTES_FILE),
        "{\"B0\": 3}",
    )
    .unwrap();
    let err = World::build(&Source::DataDir(dir.path().to_path_buf()), 0).unwrap_err();
    assert!(
        matches!(&err, EnvError::DataUnavailable(m) if m.contains("items_ins_v2_1000.json")),
        "{err}"
    );
}
