//! # Synthetic goals (WebShop's `get_synthetic_goals`, envs.md §4.3)
//!
//! One goal per product per combination of its option values (the Cartesian
//! product over the options sorted by name). Each product draws one price
//! limit: of the grid 10, 20, …, 990 keep the first four values strictly above
//! its price; with at least two, sample two and keep the larger, shown as
//! `, and price lower than X.00 dollars`; otherwise the limit is 1,000,000
//! and there is no price text. The instruction is the product's instruction,
//! then ` with name: value, and name: value`, then the price text.
//!
//! The goal list is shuffled once from the catalogue seed; indices 0–499 are
//! the `test` split and the rest `train`. Unlike the reference (one shuffle
//! per worker, so splits overlap), there is one list and one disjoint split.

use lamer_sdk::SeededRng;

use crate::catalogue::Catalogue;

/// Goals in the `test` split (the first of the shuffled list).
pub const TEST_GOALS: usize = 500;
/// The limit when a product's price leaves fewer than two grid values.
pub const NO_PRICE_LIMIT: f64 = 1_000_000.0;

/// One shopping goal.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    /// Index of the goal product in the catalogue.
    pub product: usize,
    /// `(option name, value)` in name order.
    pub options: Vec<(String, String)>,
    pub price_upper: f64,
    pub instruction: String,
}

/// Builds and shuffles the goals of a catalogue.
pub fn build_goals(catalogue: &Catalogue, seed: u64) -> Vec<Goal> {
    let mut rng = SeededRng::new(lamer_sdk::mix_seed(seed, 0x90a1));
    let mut goals = Vec::new();
    for (index, product) in catalogue.products.iter().enumerate() {
        let Some(instruction) = &product.instruction else {
            continue;
        };
        if product.instruction_attributes.is_empty() {
            continue;
        }
        let grid: Vec<f64> = (1..100)
            .map(|i| 10.0 * f64::from(i))
            .filter(|&p| p > product.price)
            .take(4)
            .collect();
        let (price_upper, price_text) = if grid.len() >= 2 {
            let picked = rng.sample_indices(grid.len(), 2);
            let upper = grid[picked[0]].max(grid[picked[1]]);
            (upper, format!(", and price lower than {upper:.2} dollars"))
        } else {
            (NO_PRICE_LIMIT, String::new())
        };
        let mut names: Vec<&(String, Vec<String>)> = product.options.iter().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for combination in cartesian(&names) {
            let option_text = combination
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", and ");
            let option_text = if option_text.is_empty() {
                option_text
            } else {
                format!(" with {option_text}")
            };
            goals.push(Goal {
                product: index,
                options: combination,
                price_upper,
                instruction: format!("{instruction}{option_text}{price_text}"),
            });
        }
    }
    rng.shuffle(&mut goals);
    goals
}

/// Every combination of one value per option, the first option varying slowest.
fn cartesian(options: &[&(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (name, values) in options {
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for combo in &combos {
            for value in values {
                let mut c = combo.clone();
                c.push((name.clone(), value.clone()));
                next.push(c);
            }
        }
        combos = next;
    }
    combos
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Product;

    fn product(price: f64, options: Vec<(&str, Vec<&str>)>) -> Product {
        Product {
            asin: "B000000001".into(),
            title: "Mug".into(),
            description: String::new(),
            bullets: vec![String::new()],
            price_tag: String::new(),
            price,
            options: options
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.into_iter().map(String::from).collect()))
                .collect(),
            category: String::new(),
            query: String::new(),
            product_category: String::new(),
            attributes: vec!["x".into()],
            instruction: Some("i want a mug".into()),
            instruction_attributes: vec!["x".into()],
            title_nouns: vec!["mug".into()],
        }
    }

    #[test]
    fn one_goal_per_option_combination_with_price_text() {
        let c = Catalogue {
            products: vec![product(
                23.5,
                vec![
                    ("size", vec!["small", "large"]),
                    ("color", vec!["red", "blue"]),
                ],
            )],
        };
        let goals = build_goals(&c, 1);
        assert_eq!(goals.len(), 4);
        for g in &goals {
            // Options are in name order.
            assert_eq!(g.options[0].0, "color");
            assert_eq!(g.options[1].0, "size");
            assert!(
                [40.0, 50.0, 60.0].contains(&g.price_upper),
                "{}",
                g.price_upper
            );
            let expected = format!(
                "i want a mug with color: {}, and size: {}, and price lower than {:.2} dollars",
                g.options[0].1, g.options[1].1, g.price_upper
            );
            assert_eq!(g.instruction, expected);
        }
        let mut combos: Vec<_> = goals.iter().map(|g| g.options.clone()).collect();
        combos.sort();
        combos.dedup();
        assert_eq!(combos.len(), 4);
    }

    #[test]
    fn expensive_products_have_no_limit() {
        let c = Catalogue {
            products: vec![product(985.0, vec![])],
        };
        let goals = build_goals(&c, 1);
        assert_eq!(goals.len(), 1);
        assert_eq!(goals[0].price_upper, NO_PRICE_LIMIT);
        assert_eq!(goals[0].instruction, "i want a mug");
    }
}
