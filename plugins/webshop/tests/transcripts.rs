//! Snapshot transcripts of whole episodes: the exact text an agent sees.

use lamer_sdk::{Session, Task, Transcript};
use webshop::WebShop;

/// Plays `plan` where each entry is either a literal action or `#k`, the
/// k-th admissible `click[...]` of a product (an asin) on the current page,
/// `#opt`, the first product on the page that has options, or `@k`, the k-th
/// option value of the open product; returns the concrete actions.
fn concrete_actions(task: &Task, plan: &[&str]) -> Vec<String> {
    let mut s = Session::<WebShop>::open("{}").unwrap();
    s.reset(task).unwrap();
    let mut out = Vec::new();
    for step in plan {
        let shop = s.env().shop().unwrap();
        let action = if *step == "#opt" {
            // The first result on the page that has options.
            let p = *shop
                .page_results()
                .iter()
                .find(|&&p| !shop.world().catalogue.products[p].options.is_empty())
                .unwrap();
            format!(
                "click[{}]",
                shop.world().catalogue.products[p].asin.to_lowercase()
            )
        } else if let Some(k) = step.strip_prefix('#') {
            let k: usize = k.parse().unwrap();
            let p = shop.page_results()[k];
            format!(
                "click[{}]",
                shop.world().catalogue.products[p].asin.to_lowercase()
            )
        } else if let Some(k) = step.strip_prefix('@') {
            let k: usize = k.parse().unwrap();
            let p = shop.product().unwrap();
            let values: Vec<&String> = shop.world().catalogue.products[p]
                .options
                .iter()
                .flat_map(|(_, v)| v)
                .collect();
            format!("click[{}]", values[k])
        } else {
            step.to_string()
        };
        s.step(&action).unwrap();
        out.push(action);
        if s.is_over() {
            break;
        }
    }
    out
}

fn record(task: &Task, plan: &[&str]) -> String {
    let actions = concrete_actions(task, plan);
    let refs: Vec<&str> = actions.iter().map(String::as_str).collect();
    Transcript::record::<WebShop>("{}", task, &refs)
        .unwrap()
        .to_string()
}

#[test]
fn expert_episode() {
    let t = Transcript::record_expert::<WebShop>("{}", &Task::new("test", 0)).unwrap();
    assert!(t.won());
    insta::assert_snapshot!(t.to_string());
}

#[test]
fn search_paging_subpages_options_and_a_partial_purchase() {
    let task = Task::new("test", 7);
    insta::assert_snapshot!(record(
        &task,
        &[
            "search[insulated travel mug]",
            "click[next >]",
            "click[< prev]",
            "#opt",
            "click[description]",
            "click[< prev]",
            "click[features]",
            "click[reviews]",
            "click[< prev]",
            "@0",
            "click[buy now]",
        ]
    ));
}

#[test]
fn invalid_actions_and_search_from_an_item_page() {
    let task = Task::new("train", 11);
    insta::assert_snapshot!(record(
        &task,
        &[
            "click[search]",
            "buy something",
            "search[]",
            "search[bamboo cutting board]",
            "click[b0notthere]",
            "#0",
            "click[next >]",
            "search[garden hose]",
            "click[back to search]",
            "click[< prev]",
        ]
    ));
}

#[test]
fn paging_past_the_last_result_shows_an_empty_page() {
    let task = Task::new("test", 2);
    insta::assert_snapshot!(record(
        &task,
        &[
            "search[hoodie]",
            "click[next >]",
            "click[next >]",
            "click[next >]",
            "click[next >]",
            "click[next >]",
        ]
    ));
}
