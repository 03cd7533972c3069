//! # The purchase score (WebShop's `goal.get_reward`, envs.md §4.5)
//!
//! `score = r_type × (attributes matched + options matched + price ok) /
//! (goal attributes + goal options + 1)`, with:
//!
//! - **r_type**: 1.0; 0.5 unless the queries match, or the ` › ` categories
//!   share two levels, or the title score exceeds 0.2; 0.1 if the title
//!   score is below 0.1; 0 if it is 0. The title score is the share of the
//!   goal title's nouns (a list, repeats counted in the denominator) whose
//!   distinct values appear among the bought title's nouns; 0.2 if the goal
//!   title has none. Stored nouns replace spaCy.
//! - **attributes**: a goal attribute matches if some product attribute has
//!   `token_set_ratio > 85`, else if it is a substring of the lower-cased
//!   title, the space-joined bullets or the description.
//! - **options**: the reference passes goal options as `(name, value)`
//!   tuples. Colour normalisation of a tuple only fires when an element
//!   *equals* a colour word; otherwise the tuple is compared as its Python
//!   string `('size', 'x-large')`. A goal option matches if some chosen value
//!   (colour-normalised: the first colour word that is a substring) has
//!   `token_set_ratio > 85` with it. Unclicked options are misses.
//! - **price**: `price ≤ price_upper`.

use crate::catalogue::Product;
use crate::fuzz::{python_tuple_str, token_set_ratio};
use crate::goals::Goal;

/// WebShop's `normalize.COLOR_SET`, in its order (the first hit wins).
pub const COLOR_SET: [&str; 102] = [
    "alabaster",
    "apricot",
    "aqua",
    "ash",
    "asphalt",
    "azure",
    "banana",
    "beige",
    "black",
    "blue",
    "blush",
    "bordeaux",
    "bronze",
    "brown",
    "burgundy",
    "camel",
    "camo",
    "caramel",
    "champagne",
    "charcoal",
    "cheetah",
    "chestnut",
    "chocolate",
    "christmas",
    "coffee",
    "cognac",
    "copper",
    "coral",
    "cranberry",
    "cream",
    "crystal",
    "dark",
    "denim",
    "eggplant",
    "elephant",
    "espresso",
    "fuchsia",
    "gold",
    "granite",
    "grape",
    "graphite",
    "grass",
    "gray",
    "green",
    "grey",
    "heather",
    "indigo",
    "ivory",
    "ivy",
    "khaki",
    "lavender",
    "lemon",
    "leopard",
    "light",
    "lilac",
    "lime",
    "magenta",
    "maroon",
    "mauve",
    "merlot",
    "midnight",
    "mint",
    "mocha",
    "multicolor",
    "mushroom",
    "mustard",
    "natural",
    "navy",
    "nude",
    "olive",
    "orange",
    "peach",
    "pewter",
    "pink",
    "plum",
    "purple",
    "rainbow",
    "red",
    "rose",
    "royal",
    "rust",
    "sand",
    "sapphire",
    "seashell",
    "silver",
    "skull",
    "slate",
    "steel",
    "stone",
    "stonewash",
    "sunflower",
    "tan",
    "taupe",
    "teal",
    "tiger",
    "turquoise",
    "violet",
    "walnut",
    "wheat",
    "white",
    "wine",
    "yellow",
];

/// The matching threshold: thefuzz scores strictly above it match.
pub const MATCH_THRESHOLD: u32 = 85;

/// `normalize_color` on a chosen option value (a string): the first colour
/// word contained in it, else the value.
pub fn normalize_color(value: &str) -> &str {
    COLOR_SET
        .iter()
        .find(|c| value.contains(*c))
        .copied()
        .unwrap_or(value)
}

/// `normalize_color` on a goal option tuple, then what `token_set_ratio`
/// sees: the colour word when an element equals one, else `str(tuple)`.
pub fn normalize_goal_option(name: &str, value: &str) -> String {
    match COLOR_SET.iter().find(|c| **c == name || **c == value) {
        Some(c) => (*c).to_string(),
        None => python_tuple_str(name, value),
    }
}

/// The parts of a score, for tests and the done-page details.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreBreakdown {
    pub r_type: f64,
    pub title_score: f64,
    pub attributes_matched: usize,
    pub options_matched: usize,
    pub price_ok: bool,
    pub total: f64,
}

/// The title score and the type reward of buying `bought` for a goal on `target`.
pub fn type_reward(bought: &Product, target: &Product) -> (f64, f64) {
    let query_match = bought.query == target.query;
    let levels = |p: &Product| -> Vec<String> {
        p.product_category
            .split('›')
            .map(|s| s.trim().to_string())
            .collect()
    };
    let bought_levels = levels(bought);
    let mut shared: Vec<String> = levels(target)
        .into_iter()
        .filter(|l| bought_levels.contains(l))
        .collect();
    shared.sort();
    shared.dedup();
    let category_match = shared.len() >= 2;
    let title_score = if target.title_nouns.is_empty() {
        0.2
    } else {
        let mut common: Vec<&String> = target
            .title_nouns
            .iter()
            .filter(|n| bought.title_nouns.contains(n))
            .collect();
        common.sort();
        common.dedup();
        common.len() as f64 / target.title_nouns.len() as f64
    };
    let mut r_type = 1.0;
    if !(query_match || category_match || title_score > 0.2) {
        r_type = 0.5;
    }
    if title_score < 0.1 {
        r_type = 0.1;
    }
    if title_score == 0.0 {
        r_type = 0.0;
    }
    (title_score, r_type)
}

/// How many goal attributes the bought product satisfies.
pub fn attributes_matched(bought: &Product, goal_attributes: &[String]) -> usize {
    let title = bought.title.to_lowercase();
    let bullets = bought.bullets.join(" ").to_lowercase();
    let description = bought.description.to_lowercase();
    goal_attributes
        .iter()
        .filter(|g| {
            bought
                .attributes
                .iter()
                .any(|a| token_set_ratio(a, g) > MATCH_THRESHOLD)
                || title.contains(g.as_str())
                || bullets.contains(g.as_str())
                || description.contains(g.as_str())
        })
        .count()
}

/// How many goal options the chosen option values hit.
pub fn options_matched(chosen_values: &[&str], goal_options: &[(String, String)]) -> usize {
    let chosen: Vec<&str> = chosen_values.iter().map(|v| normalize_color(v)).collect();
    goal_options
        .iter()
        .filter(|(name, value)| {
            let goal = normalize_goal_option(name, value);
            chosen
                .iter()
                .any(|c| token_set_ratio(c, &goal) > MATCH_THRESHOLD)
        })
        .count()
}

/// The score of buying `bought` with `chosen` options (name → value) for
/// `goal`, whose product is `target`.
pub fn score(
    bought: &Product,
    chosen: &[(String, String)],
    goal: &Goal,
    target: &Product,
) -> ScoreBreakdown {
    let (title_score, r_type) = type_reward(bought, target);
    let attrs = attributes_matched(bought, &target.instruction_attributes);
    let values: Vec<&str> = chosen.iter().map(|(_, v)| v.as_str()).collect();
    let opts = options_matched(&values, &goal.options);
    let price_ok = bought.price <= goal.price_upper;
    let denominator = (target.instruction_attributes.len() + goal.options.len() + 1) as f64;
    let total = (attrs + opts + usize::from(price_ok)) as f64 / denominator * r_type;
    ScoreBreakdown {
        r_type,
        title_score,
        attributes_matched: attrs,
        options_matched: opts,
        price_ok,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(title: &str, nouns: &[&str], query: &str, category: &str) -> Product {
        Product {
            asin: "B000000001".into(),
            title: title.into(),
            description: "Soft and warm, machine wash.".into(),
            bullets: vec!["fits true to size".into(), "Imported".into()],
            price_tag: "$20.0".into(),
            price: 20.0,
            options: vec![],
            category: "fashion".into(),
            query: query.into(),
            product_category: category.into(),
            attributes: vec!["long lasting".into(), "hand wash".into()],
            instruction: Some("i want a hoodie".into()),
            instruction_attributes: vec!["long lasting".into(), "machine wash".into()],
            title_nouns: nouns.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn goal(options: &[(&str, &str)], price_upper: f64) -> Goal {
        Goal {
            product: 0,
            options: options
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            price_upper,
            instruction: String::new(),
        }
    }

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn reference_option_table() {
        // envs.md §4.5, chosen vs goal option: large vs x-large matches,
        // x-large vs large does not, and both pack-of rows are false positives.
        let g = |n: &str, v: &str| vec![(n.to_string(), v.to_string())];
        assert_eq!(options_matched(&["large"], &g("size", "x-large")), 1);
        assert_eq!(options_matched(&["x-large"], &g("size", "large")), 0);
        assert_eq!(
            options_matched(&["pack of 12"], &g("size", "12 count (pack of 1)")),
            1
        );
        assert_eq!(
            options_matched(&["3 ounce (pack of 2)"], &g("size", "3 ounce (pack of 3)")),
            1
        );
    }

    #[test]
    fn colour_normalisation_quirks() {
        // A goal value that *is* a colour word normalises; "navy blue" stays a tuple.
        assert_eq!(normalize_goal_option("color", "black"), "black");
        assert_eq!(
            normalize_goal_option("color", "navy blue"),
            "('color', 'navy blue')"
        );
        // Chosen values normalise by substring, first colour in list order.
        assert_eq!(normalize_color("navy blue"), "blue");
        assert_eq!(normalize_color("light grey"), "grey");
        // "washed denim" contains "ash", which comes first in COLOR_SET.
        assert_eq!(normalize_color("washed denim"), "ash");
        assert_eq!(
            options_matched(&["washed denim"], &opts(&[("color", "washed denim")])),
            0
        );
        // "navy blue" → "blue", a token of ('color', 'navy blue') → match.
        assert_eq!(
            options_matched(&["navy blue"], &opts(&[("color", "navy blue")])),
            1
        );
        // Another blue also normalises to "blue" and matches: a reference false positive.
        assert_eq!(
            options_matched(&["sky blue"], &opts(&[("color", "navy blue")])),
            1
        );
        assert_eq!(options_matched(&["red"], &opts(&[("color", "black")])), 0);
    }

    #[test]
    fn attributes_match_fuzzily_or_by_substring() {
        let p = product("Acme Hoodie", &["acme", "hoodie"], "hoodie", "A › B");
        // "long lasting" is an attribute; "machine wash" is in the description.
        assert_eq!(
            attributes_matched(&p, &["long lasting".into(), "machine wash".into()]),
            2
        );
        assert_eq!(attributes_matched(&p, &["dry clean only".into()]), 0);
        // Fuzzy: "long-lasting" processes to the same tokens.
        assert_eq!(attributes_matched(&p, &["long-lasting".into()]), 1);
    }

    #[test]
    fn type_reward_rules() {
        let target = product(
            "Acme Zip Hoodie",
            &["acme", "zip", "hoodie"],
            "hoodie",
            "A › B › C",
        );
        // Same query → 1.0.
        let same = product("Bolt Hoodie", &["bolt", "hoodie"], "hoodie", "X");
        assert_eq!(type_reward(&same, &target), (1.0 / 3.0, 1.0));
        // No query/category match, title score 1/3 > 0.2 → 1.0.
        let other_query = product("Bolt Hoodie", &["bolt", "hoodie"], "jacket", "X");
        assert_eq!(type_reward(&other_query, &target).1, 1.0);
        // Title score 0 → 0 even with a query match.
        let no_nouns = product("Bolt Cap", &["bolt", "cap"], "hoodie", "A › B");
        assert_eq!(type_reward(&no_nouns, &target), (0.0, 0.0));
        // Score 1/11 < 0.1 → 0.1.
        let many: Vec<String> = (0..11).map(|i| format!("n{i}")).collect();
        let mut wide = target.clone();
        wide.title_nouns = many.clone();
        let mut one = target.clone();
        one.title_nouns = vec![many[0].clone()];
        assert_eq!(type_reward(&one, &wide).1, 0.1);
        // Title score exactly 0.2, no query/category match → 0.5.
        let mut five = target.clone();
        five.title_nouns = many[..5].to_vec();
        let mut hit_one = one.clone();
        hit_one.query = "other".into();
        hit_one.product_category = "Z".into();
        assert_eq!(type_reward(&hit_one, &five), (0.2, 0.5));
        // Two shared category levels count as a category match.
        hit_one.product_category = "A › B".into();
        assert_eq!(type_reward(&hit_one, &five).1, 1.0);
        // Goal title without nouns → 0.2.
        let mut bare = target.clone();
        bare.title_nouns.clear();
        assert_eq!(type_reward(&same, &bare), (0.2, 1.0));
    }

    #[test]
    fn total_score() {
        let target = product(
            "Acme Zip Hoodie",
            &["acme", "zip", "hoodie"],
            "hoodie",
            "A › B",
        );
        let g = goal(&[("color", "black"), ("size", "x-large")], 30.0);
        // Everything right → exactly 1.0.
        let s = score(
            &target,
            &opts(&[("color", "black"), ("size", "x-large")]),
            &g,
            &target,
        );
        assert_eq!(s.total, 1.0);
        // Options not clicked: 2 attrs + price over 5.
        let s = score(&target, &[], &g, &target);
        assert_eq!(s.total, 3.0 / 5.0);
        // "x-large" goal, chose "large": matches (table row 1) → still 1.0.
        let s = score(
            &target,
            &opts(&[("color", "black"), ("size", "large")]),
            &g,
            &target,
        );
        assert_eq!(s.total, 1.0);
        // Over the price limit.
        let cheap = goal(&[("color", "black"), ("size", "x-large")], 10.0);
        let s = score(
            &target,
            &opts(&[("color", "black"), ("size", "x-large")]),
            &cheap,
            &target,
        );
        assert!(!s.price_ok);
        assert_eq!(s.total, 4.0 / 5.0);
        // A product of another type scores by r_type.
        let mut target = target.clone();
        target.title_nouns = ["acme", "zip", "hoodie", "fleece", "pocket"]
            .map(String::from)
            .to_vec();
        let mut other = target.clone();
        other.title_nouns = vec!["acme".into()];
        other.query = "cap".into();
        other.product_category = "Q".into();
        let s = score(
            &other,
            &opts(&[("color", "black"), ("size", "x-large")]),
            &g,
            &target,
        );
        assert_eq!(s.r_type, 0.5);
        assert_eq!(s.total, 0.5);
    }
}
