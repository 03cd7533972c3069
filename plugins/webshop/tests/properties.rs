//! Property tests: any action text is applied without error or panic, and
//! the state machine's invariants hold along the way.

use lamer_sdk::{Session, Task};
use proptest::prelude::*;
use webshop::WebShop;

/// Actions mixing admissible picks, plausible grammar and garbage.
fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0usize..64).prop_map(Action::Admissible),
        2 => "[a-z ]{1,20}".prop_map(|q| Action::Text(format!("search[{q}]"))),
        1 => "[a-z<> 0-9]{0,12}".prop_map(|c| Action::Text(format!("click[{c}]"))),
        1 => ".{0,30}".prop_map(Action::Text),
    ]
}

#[derive(Debug, Clone)]
enum Action {
    /// The k-th admissible action (mod their count), with queries filled in.
    Admissible(usize),
    Text(String),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn arbitrary_actions_never_error(actions in proptest::collection::vec(action(), 1..14), index in 0u64..500) {
        let mut s = Session::<WebShop>::open("{}").unwrap();
        s.reset(&Task::new("test", index)).unwrap();
        for a in actions {
            if s.is_over() {
                break;
            }
            let admissible = s.admissible_actions().unwrap();
            let text = match a {
                Action::Admissible(k) => admissible[k % admissible.len()]
                    .replace("<your query>", "travel mug"),
                Action::Text(t) => t,
            };
            let r = s.step(&text).unwrap();
            prop_assert!(r.reward == 0.0 || r.reward == 10.0);
            prop_assert!(r.action_valid);
            prop_assert_eq!(r.won, r.reward == 10.0);
            let score: f64 = r.info_value("task_score").unwrap().parse().unwrap();
            prop_assert!((0.0..=1.0).contains(&score));
            prop_assert!(r.info_value("raw_observation").is_some());
            if !r.done() {
                // Every listed click is applicable (`click[search]` aside).
                for listed in s.admissible_actions().unwrap() {
                    if listed.starts_with("click[") && listed != "click[search]" {
                        let mut probe = s.clone();
                        let r = probe.step(&listed).unwrap();
                        prop_assert_eq!(r.info_value("no_op"), Some("false"), "{}", listed);
                    }
                }
            }
        }
    }
}
