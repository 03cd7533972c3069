//! # WebShop: find and buy the product an instruction describes
//!
//! LaMer's WebShop environment (envs.md §4) as a lamer plugin. The agent gets
//! a shopping instruction ("i need a fleece hoodie that is machine wash with
//! color: navy blue, and size: large, and price lower than 40.00 dollars"),
//! searches a catalogue, pages through results, opens products, picks their
//! options and buys one. Buying ends the attempt with the reference's exact
//! score in [0, 1]; the env reward is 10 when the score is exactly 1.0.
//!
//! - **Catalogue** (config `catalogue`): `"generated"` (default) builds ~1,000
//!   products in WebShop's file schema from `seed` ([`generate`]);
//!   `"data-dir"` reads the real `items_shuffle_1000.json` and
//!   `items_ins_v2_1000.json` from `data_dir` (default `/data`, the granted
//!   read-only directory) ([`catalogue`]).
//! - **Search**: BM25 over the reference document text ([`search`]).
//! - **Pages and actions**: [`shop`]; `search[…]` from any page, `click[…]`
//!   on the page's clickables, anything else a silent no-op with reward 0.
//!   Every action is reported valid, as in LaMer, where only the missing
//!   `<action>` tags make a WebShop turn invalid; step info `no_op` says
//!   whether the action changed nothing.
//! - **Reward**: [`reward`], with thefuzz's `token_set_ratio` ([`fuzz`]).
//! - **Observations** follow LaMer: `reset` returns the instruction (shown
//!   under "Your task is to:"); each step returns the page's text after the
//!   instruction, parts in single quotes (`'Back to Search' [SEP] …`); the
//!   done page stays raw. The raw page is in step info `raw_observation`.
//! - **Splits**: goals are built and shuffled once from `seed`; goals 0–499
//!   are `test`, the rest `train`.
//! - **Restart** returns to the original goal, also after a purchase. This
//!   deliberately deviates from the reference, whose restart after a purchase
//!   switches to a random goal (envs.md §4.6).
//! - **Expert**: searches the goal's words, pages to the goal product, clicks
//!   its goal options and buys.

pub mod catalogue;
pub mod fuzz;
pub mod generate;
pub mod goals;
pub mod reward;
pub mod search;
pub mod shop;
pub mod stem;
pub mod world;

use std::path::PathBuf;
use std::rc::Rc;

use lamer_sdk::*;
use serde::{Deserialize, Serialize};

use crate::catalogue::python_float;
use crate::goals::TEST_GOALS;
use crate::shop::{Clickable, Page, SEP, Shop};
use crate::world::{Source, World};

/// Goals in the `train` split of the default generated catalogue (seed 0).
/// A test checks it against the generator; other seeds or real data have
/// their own count, checked at `reset`.
pub const TRAIN_GOALS: u64 = 5553;

/// The env reward of a purchase that scores exactly 1.0.
pub const WIN_REWARD: f64 = 10.0;

/// Where the catalogue comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatalogueKind {
    /// The built-in generator.
    Generated,
    /// WebShop's files in `data_dir`.
    DataDir,
}

/// Session config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// `"generated"` or `"data-dir"`.
    pub catalogue: CatalogueKind,
    /// Seeds the generator, prices of ranged products, price limits and the
    /// goal shuffle.
    pub seed: u64,
    /// The directory holding WebShop's files for `"data-dir"`.
    pub data_dir: String,
    /// Turns per attempt (LaMer: 12).
    pub max_turns: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            catalogue: CatalogueKind::Generated,
            seed: 0,
            data_dir: DATA_DIR.to_string(),
            max_turns: 12,
        }
    }
}

/// The environment: a shared world and the current browsing session.
#[derive(Debug, Clone)]
pub struct WebShop {
    config: Config,
    world: Rc<World>,
    shop: Option<Shop>,
}

impl WebShop {
    /// The current session, for white-box tests.
    pub fn shop(&self) -> Option<&Shop> {
        self.shop.as_ref()
    }

    /// The shared world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The queries the expert tries in turn: the product's instruction, its
    /// search query, its title.
    fn expert_queries(&self, shop: &Shop) -> [String; 3] {
        let world = shop.world();
        let product = &world.catalogue.products[world.goals[shop.goal_index()].product];
        [
            product
                .instruction
                .clone()
                .unwrap_or_else(|| product.query.clone())
                .to_lowercase(),
            product.query.clone(),
            product.title.to_lowercase(),
        ]
    }
}

/// LaMer's history shortening: the first 15 ` [SEP] ` items and a count of
/// the rest, for observations with at least 15 items.
pub fn brief(observation: &str) -> String {
    const SHOWN: usize = 15;
    let items: Vec<&str> = observation.split(SEP).collect();
    if items.len() >= SHOWN {
        format!(
            "{} ... ({} more)",
            items[..SHOWN].join(SEP),
            items.len() - SHOWN
        )
    } else {
        observation.to_string()
    }
}

impl Environment for WebShop {
    type Config = Config;

    fn info() -> EnvInfo {
        EnvInfo::new(
            "webshop",
            "0.1.0",
            "Online shopping from an instruction: search a catalogue, open products, choose \
             their options and buy the one that matches every requirement and the price limit.",
            Config::default().max_turns,
        )
        .with_split(SplitInfo::fixed(
            "test",
            "Goals 0-499 of the shuffled goal list.",
            TEST_GOALS as u64,
        ))
        .with_split(SplitInfo::fixed(
            "train",
            "Goals from 500 on, disjoint from test (count for the default catalogue).",
            TRAIN_GOALS,
        ))
    }

    fn open(config: Config) -> Result<Self, EnvError> {
        if config.max_turns == 0 {
            return Err(EnvError::InvalidConfig(
                "max_turns must be at least 1".into(),
            ));
        }
        let source = match config.catalogue {
            CatalogueKind::Generated => Source::Generated,
            CatalogueKind::DataDir => Source::DataDir(PathBuf::from(&config.data_dir)),
        };
        let world = World::shared(&source, config.seed)?;
        if world.goals.len() <= TEST_GOALS {
            return Err(EnvError::DataUnavailable(format!(
                "the catalogue yields {} goals; the test split alone needs {TEST_GOALS}",
                world.goals.len()
            )));
        }
        Ok(WebShop {
            config,
            world,
            shop: None,
        })
    }

    fn max_turns(&self) -> u32 {
        self.config.max_turns
    }

    fn reset(&mut self, task: &Task) -> Result<ResetResult, EnvError> {
        let index = usize::try_from(task.index).unwrap_or(usize::MAX);
        let goal = match task.split.as_str() {
            "test" => index,
            _ => TEST_GOALS.saturating_add(index),
        };
        if goal >= self.world.goals.len() || (task.split == "test" && index >= TEST_GOALS) {
            return Err(EnvError::TaskOutOfRange(format!(
                "index {} in split `{}`: this catalogue has {} test and {} train goals",
                task.index,
                task.split,
                TEST_GOALS,
                self.world.goals.len() - TEST_GOALS
            )));
        }
        let shop = Shop::new(Rc::clone(&self.world), goal);
        let product = &self.world.catalogue.products[self.world.goals[goal].product];
        let result = ResetResult::new(shop.instruction())
            .info("goal_index", goal)
            .info("category", &product.category);
        self.shop = Some(shop);
        Ok(result)
    }

    fn step(&mut self, action: &str) -> Result<Step, EnvError> {
        let shop = self.shop.as_mut().ok_or(EnvError::NotReset)?;
        // LaMer lower-cases the whole response before extracting the action.
        let action = action.to_lowercase();
        let outcome = shop.step(&action);
        let raw = shop.render();
        let observation = Shop::format_observation(&raw, shop.instruction());
        let score = outcome.purchase.as_ref().map_or(0.0, |b| b.total);
        let won = outcome.purchase.is_some() && score == 1.0;
        let mut step = Step::new(observation)
            .reward(if won { WIN_REWARD } else { 0.0 })
            .terminated(outcome.purchase.is_some())
            .won(won)
            // LaMer judges a WebShop action valid by its `<action>` tags alone
            // (the host checks those); the env flags nothing, so a no-op click
            // carries no format penalty. Whether it did anything is in `no_op`.
            .valid(true)
            .echo(action)
            .info("task_score", python_float(score))
            .info("no_op", !outcome.valid)
            .info("raw_observation", raw);
        if let Some(b) = &outcome.purchase {
            step = step
                .info("r_type", python_float(b.r_type))
                .info("attributes_matched", b.attributes_matched)
                .info("options_matched", b.options_matched)
                .info("price_ok", b.price_ok);
        }
        Ok(step)
    }

    fn admissible_actions(&self) -> Vec<String> {
        self.shop
            .as_ref()
            .map(Shop::admissible_actions)
            .unwrap_or_default()
    }

    fn expert_action(&self) -> Option<String> {
        let shop = self.shop.as_ref()?;
        let world = shop.world();
        let goal = &world.goals[shop.goal_index()];
        let target = goal.product;
        let queries = self.expert_queries(shop);
        let next_query = || {
            let current = shop.keywords().unwrap_or("");
            let next = match queries.iter().position(|q| q == current) {
                Some(i) => (i + 1) % queries.len(),
                None => 0,
            };
            format!("search[{}]", queries[next])
        };
        match shop.page() {
            Page::Done(_) => None,
            Page::Search => Some(next_query()),
            Page::Item if shop.product() == Some(target) => {
                let clickables = shop.clickables();
                for (name, value) in &goal.options {
                    let chosen = shop.options().iter().any(|(g, v)| g == name && v == value);
                    let reachable = clickables.iter().any(|(text, c)| {
                        text == value
                            && matches!(c, Clickable::OptionValue { group, .. } if group == name)
                    });
                    if !chosen && reachable {
                        return Some(format!("click[{value}]"));
                    }
                }
                Some("click[buy now]".to_string())
            }
            Page::Item | Page::Sub(_) => Some("click[< prev]".to_string()),
            Page::Results => match shop.results().iter().position(|&p| p == target) {
                Some(rank) => {
                    let wanted = (rank / shop::RESULTS_PER_PAGE) as u32 + 1;
                    let current = shop.page_number();
                    Some(if wanted == current {
                        format!(
                            "click[{}]",
                            world.catalogue.products[target].asin.to_lowercase()
                        )
                    } else if wanted > current {
                        "click[next >]".to_string()
                    } else {
                        "click[< prev]".to_string()
                    })
                }
                None => Some(next_query()),
            },
        }
    }

    fn prompt(&self) -> PromptPieces {
        PromptPieces::new(
            "You are an expert autonomous agent shopping in the WebShop online store.",
            "## Rules\n\
             You are given a shopping instruction. Find the product it describes and buy it.\n\
             - `search[your keywords]` searches the catalogue from any page and shows the \
             first page of results (10 per page, at most 50 results).\n\
             - `click[text]` clicks a button, a product id, or an option value shown on the \
             current page: `click[next >]` and `click[< prev]` page through results or go \
             back, `click[back to search]` returns to the search page, a product id opens \
             that product, an option value (such as a colour or size) selects it, \
             `click[description]`, `click[features]` and `click[reviews]` show more about \
             the product, and `click[buy now]` buys it and ends the attempt.\n\
             - Anything else does nothing.\n\n\
             ## Scoring\n\
             A purchase scores from 0 to 1 by how well the product matches the requested \
             type and attributes, whether every requested option was selected, and whether \
             the price is under the limit. Only a perfect score of 1.0 counts as success.",
        )
        .initial_state_label("Your task is to:")
        .action_instruction(
            "Now it's your turn to take one action. First reason step by step about the \
             current page and which admissible action best advances the shopping goal, then \
             give exactly one admissible action inside <action> </action> tags, e.g. \
             <action>search[fleece hoodie]</action> or <action>click[buy now]</action>.",
        )
        .reflect_instruction(
            "Reason step by step about the searches, products and options you chose and \
             where the attempt went wrong (wrong product, a missed attribute or option, a \
             price over the limit, running out of turns). Then write a concise improved plan \
             that names the specific searches and clicks to make from the start.",
        )
        .list_admissible_actions(true)
        .history(HistoryWindow {
            play_turns: 5,
            play_full_observations: 1,
            reflect_turns: 20,
            reflect_full_observations: 1,
        })
    }

    fn brief_observation(observation: &str) -> String {
        brief(observation)
    }
}

export_env!(WebShop);
