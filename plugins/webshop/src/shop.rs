//! # The shop's pages and transitions (WebShop's text env, envs.md §4.4)
//!
//! A [`Shop`] is one browsing session on one goal: the current page, the
//! search keywords and results page, the open product and the chosen
//! options. It renders each page as the reference's "simple" text — the
//! page's visible text nodes, stripped, joined by ` [SEP] ` — from hard-coded
//! skeletons of WebShop's templates (CSS-hidden text included, as
//! BeautifulSoup keeps it).
//!
//! Actions follow the reference grammar: `(.+)\[(.+)\]` splits a name and an
//! argument; `search[kw]` searches from any page; `click[x]` must name a
//! current clickable other than `search`; anything else changes nothing.

use std::fmt::Write as _;
use std::rc::Rc;

use crate::catalogue::{Product, python_float};
use crate::reward::{ScoreBreakdown, score};
use crate::world::World;

/// Results shown per page (WebShop's `PRODUCT_WINDOW`).
pub const RESULTS_PER_PAGE: usize = 10;
/// The separator between visible text nodes.
pub const SEP: &str = " [SEP] ";

/// An item's sub-page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubPage {
    Description,
    Features,
    Reviews,
}

/// Which page the browser shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Page {
    Search,
    Results,
    Item,
    Sub(SubPage),
    Done(ScoreBreakdown),
}

/// What a clickable text does.
#[derive(Debug, Clone, PartialEq)]
pub enum Clickable {
    /// A `.btn` button, by its lower-cased label.
    Button,
    /// A result's asin link.
    Product(usize),
    /// A radio option: its group and value.
    OptionValue { group: String, value: String },
}

/// What one action did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The action changed the page (a search, or a click on a clickable).
    pub valid: bool,
    /// The purchase score when the action was `buy now`.
    pub purchase: Option<ScoreBreakdown>,
}

/// One browsing session on one goal.
#[derive(Debug, Clone)]
pub struct Shop {
    world: Rc<World>,
    goal: usize,
    page: Page,
    keywords: Option<String>,
    results: Rc<Vec<usize>>,
    page_number: u32,
    product: Option<usize>,
    /// Chosen options, name → value, in first-chosen order (a Python dict).
    options: Vec<(String, String)>,
}

/// Splits an action like the reference's `re.match(r'(.+)\[(.+)\]', action)`:
/// both groups are greedy and `.` stops at a newline, so the name ends at the
/// last `[` that still leaves a non-empty argument before the last `]`.
pub fn parse_action(action: &str) -> Option<(&str, &str)> {
    let line = action.split('\n').next().unwrap_or("");
    let close = line.rfind(']')?;
    let (open, _) = line[..close]
        .char_indices()
        .rev()
        .find(|&(i, c)| c == '[' && i >= 1 && i + 1 < close)?;
    Some((&line[..open], &line[open + 1..close]))
}

/// Python's `json.dumps(…, sort_keys=True)` as Flask's `tojson` filter
/// renders it: ASCII-only, with `<`, `>`, `&` and `'` escaped for HTML.
pub fn tojson(options: &[(String, String)]) -> String {
    fn string(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '<' | '>' | '&' | '\'' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        let _ = write!(out, "\\u{:04x}", unit);
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    let mut sorted: Vec<&(String, String)> = options.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::from("{");
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        string(k, &mut out);
        out.push_str(": ");
        string(v, &mut out);
    }
    out.push('}');
    out
}

/// Joins visible text nodes the way the reference does: each stripped,
/// empty ones dropped.
struct Texts(Vec<String>);

impl Texts {
    fn new() -> Self {
        Texts(Vec::new())
    }
    fn push(&mut self, text: &str) -> &mut Self {
        let t = text.trim();
        if !t.is_empty() {
            self.0.push(t.to_string());
        }
        self
    }
    fn join(&self) -> String {
        self.0.join(SEP)
    }
}

impl Shop {
    /// A session on the search page of goal `goal`.
    pub fn new(world: Rc<World>, goal: usize) -> Self {
        Shop {
            world,
            goal,
            page: Page::Search,
            keywords: None,
            results: Rc::new(Vec::new()),
            page_number: 1,
            product: None,
            options: Vec::new(),
        }
    }

    pub fn world(&self) -> &World {
        &self.world
    }
    pub fn goal_index(&self) -> usize {
        self.goal
    }
    pub fn page(&self) -> &Page {
        &self.page
    }
    pub fn keywords(&self) -> Option<&str> {
        self.keywords.as_deref()
    }
    pub fn results(&self) -> &[usize] {
        &self.results
    }
    pub fn page_number(&self) -> u32 {
        self.page_number
    }
    pub fn product(&self) -> Option<usize> {
        self.product
    }
    pub fn options(&self) -> &[(String, String)] {
        &self.options
    }

    /// The goal's instruction text.
    pub fn instruction(&self) -> &str {
        &self.world.goals[self.goal].instruction
    }

    /// The results on the current results page.
    pub fn page_results(&self) -> &[usize] {
        let start = (self.page_number as usize - 1) * RESULTS_PER_PAGE;
        let end = (start + RESULTS_PER_PAGE).min(self.results.len());
        self.results.get(start..end).unwrap_or(&[])
    }

    fn open_product(&self) -> Option<&Product> {
        self.product.map(|p| &self.world.catalogue.products[p])
    }

    /// The page's clickables in the reference's order (buttons and product
    /// links in document order, then radio values), as a Python dict keyed
    /// by lower-cased text: a repeated key keeps its first position and its
    /// last target.
    pub fn clickables(&self) -> Vec<(String, Clickable)> {
        let mut out: Vec<(String, Clickable)> = Vec::new();
        let mut put = |text: String, target: Clickable| {
            if let Some(slot) = out.iter_mut().find(|(t, _)| *t == text) {
                slot.1 = target;
            } else {
                out.push((text, target));
            }
        };
        let button = |label: &str| (label.to_lowercase(), Clickable::Button);
        match &self.page {
            Page::Search => {
                let (t, c) = button("Search");
                put(t, c);
            }
            Page::Results => {
                let (t, c) = button("Back to Search");
                put(t, c);
                if self.page_number > 1 {
                    let (t, c) = button("< Prev");
                    put(t, c);
                }
                let (t, c) = button("Next >");
                put(t, c);
                for &p in self.page_results() {
                    let asin = self.world.catalogue.products[p].asin.to_lowercase();
                    put(asin, Clickable::Product(p));
                }
            }
            Page::Item => {
                for label in [
                    "Back to Search",
                    "< Prev",
                    "Description",
                    "Features",
                    "Reviews",
                    "Buy Now",
                ] {
                    let (t, c) = button(label);
                    put(t, c);
                }
                if let Some(product) = self.open_product() {
                    for (group, values) in &product.options {
                        for value in values {
                            put(
                                value.clone(),
                                Clickable::OptionValue {
                                    group: group.clone(),
                                    value: value.clone(),
                                },
                            );
                        }
                    }
                }
            }
            Page::Sub(_) => {
                for label in ["Back to Search", "< Prev"] {
                    let (t, c) = button(label);
                    put(t, c);
                }
            }
            Page::Done(_) => {}
        }
        out
    }

    /// Whether the page has the search bar.
    pub fn has_search_bar(&self) -> bool {
        self.page == Page::Search
    }

    /// The admissible actions as LaMer lists them.
    pub fn admissible_actions(&self) -> Vec<String> {
        let mut actions = Vec::new();
        if self.has_search_bar() {
            actions.push("search[<your query>]".to_string());
        }
        actions.extend(
            self.clickables()
                .into_iter()
                .map(|(text, _)| format!("click[{text}]")),
        );
        actions
    }

    /// The page's raw text.
    pub fn render(&self) -> String {
        let instruction = self.instruction();
        let mut t = Texts::new();
        match &self.page {
            Page::Search => {
                t.push("WebShop")
                    .push("Instruction:")
                    .push(instruction)
                    .push("Search");
            }
            Page::Results => {
                t.push("Instruction:")
                    .push(instruction)
                    .push("Back to Search")
                    .push(&format!(
                        "Page {} (Total results: {})",
                        self.page_number,
                        self.results.len()
                    ));
                if self.page_number > 1 {
                    t.push("< Prev");
                }
                t.push("Next >");
                for &p in self.page_results() {
                    let product = &self.world.catalogue.products[p];
                    t.push(&product.asin)
                        .push(&product.title)
                        .push(&product.price_tag);
                }
            }
            Page::Item => {
                t.push("Instruction:")
                    .push(instruction)
                    .push("Back to Search")
                    .push("< Prev");
                if let Some(product) = self.open_product() {
                    for (group, values) in &product.options {
                        t.push(group);
                        for value in values {
                            t.push(value);
                        }
                    }
                    t.push(&product.title)
                        .push(&format!("Price: {}", product.price_tag))
                        .push("Rating: N.A.");
                }
                t.push("Description")
                    .push("Features")
                    .push("Reviews")
                    .push("Buy Now");
            }
            Page::Sub(sub) => {
                t.push("Instruction:")
                    .push(instruction)
                    .push("Back to Search")
                    .push("< Prev");
                if let Some(product) = self.open_product() {
                    match sub {
                        SubPage::Description => {
                            t.push(&product.description);
                        }
                        SubPage::Features => {
                            for bullet in &product.bullets {
                                t.push(bullet);
                            }
                        }
                        // The reviews file is not loaded: the page is empty.
                        SubPage::Reviews => {}
                    }
                }
            }
            Page::Done(breakdown) => {
                let asin = self
                    .open_product()
                    .map(|p| p.asin.as_str())
                    .unwrap_or("None");
                t.push("Thank you for shopping with us!")
                    .push("Your code:")
                    .push("None")
                    .push("(Paste it in your MTurk interface.)")
                    .push("Purchased")
                    .push("asin")
                    .push(asin)
                    .push("options")
                    .push(&tojson(&self.options));
                for label in ["attrs", "category", "query", "product category"] {
                    t.push(label).push("None");
                }
                // The text env passes no goal to the template: its fields are empty.
                t.push("Target");
                for label in [
                    "asin",
                    "options",
                    "attrs",
                    "price upper",
                    "instuction text",
                    "category",
                    "product category",
                    "query",
                ] {
                    t.push(label);
                }
                t.push("Goal")
                    .push("None")
                    .push("Reward")
                    .push("Your score (min 0.0, max 1.0)")
                    .push(&python_float(breakdown.total))
                    .push("Reward Details")
                    .push("None");
            }
        }
        t.join()
    }

    /// LaMer's `format_obs`: the parts after the instruction, each in single
    /// quotes; the raw text when the instruction is not a part (the done page).
    pub fn format_observation(raw: &str, instruction: &str) -> String {
        let parts: Vec<&str> = raw.split(SEP).collect();
        match parts.iter().position(|p| *p == instruction) {
            Some(i) => parts[i + 1..]
                .iter()
                .map(|p| format!("'{p}'"))
                .collect::<Vec<_>>()
                .join(SEP),
            None => raw.to_string(),
        }
    }

    fn run_search(&mut self, keywords: String, page_number: u32) {
        if self.keywords.as_deref() != Some(keywords.as_str()) {
            self.results = Rc::new(self.world.search(&keywords));
        }
        self.keywords = Some(keywords);
        self.page_number = page_number;
        self.product = None;
        self.options.clear();
        self.page = Page::Results;
    }

    /// Applies an (already lower-cased) action.
    pub fn step(&mut self, action: &str) -> Outcome {
        let nothing = Outcome {
            valid: false,
            purchase: None,
        };
        if matches!(self.page, Page::Done(_)) {
            return nothing;
        }
        let Some((name, arg)) = parse_action(action) else {
            return nothing;
        };
        let arg = arg.to_lowercase();
        if name == "search" {
            // The reference splits on single spaces and joins them back.
            self.run_search(arg, 1);
            return Outcome {
                valid: true,
                purchase: None,
            };
        }
        if name != "click" || arg == "search" {
            return nothing;
        }
        let Some((_, target)) = self.clickables().into_iter().find(|(t, _)| *t == arg) else {
            return nothing;
        };
        let mut purchase = None;
        match arg.as_str() {
            "buy now" => {
                if let Some(product) = self.product {
                    let world = Rc::clone(&self.world);
                    let goal = &world.goals[self.goal];
                    let breakdown = score(
                        &world.catalogue.products[product],
                        &self.options,
                        goal,
                        &world.catalogue.products[goal.product],
                    );
                    purchase = Some(breakdown.clone());
                    self.page = Page::Done(breakdown);
                }
            }
            "back to search" => {
                self.page = Page::Search;
                self.keywords = None;
                self.results = Rc::new(Vec::new());
                self.page_number = 1;
                self.product = None;
                self.options.clear();
            }
            "next >" if self.page == Page::Results => {
                let keywords = self.keywords.clone().unwrap_or_default();
                self.run_search(keywords, self.page_number + 1);
            }
            "< prev" if self.page == Page::Results => {
                let keywords = self.keywords.clone().unwrap_or_default();
                self.run_search(keywords, self.page_number.saturating_sub(1).max(1));
            }
            "< prev" if matches!(self.page, Page::Sub(_)) => self.page = Page::Item,
            "< prev" if self.page == Page::Item => {
                let keywords = self.keywords.clone().unwrap_or_default();
                self.run_search(keywords, self.page_number);
            }
            "description" => self.page = Page::Sub(SubPage::Description),
            "features" => self.page = Page::Sub(SubPage::Features),
            "reviews" => self.page = Page::Sub(SubPage::Reviews),
            _ => {
                match target {
                    Clickable::Product(p) => self.product = Some(p),
                    Clickable::OptionValue { group, value } => {
                        if let Some(slot) = self.options.iter_mut().find(|(g, _)| *g == group) {
                            slot.1 = value;
                        } else {
                            self.options.push((group, value));
                        }
                    }
                    Clickable::Button => {}
                }
                self.page = Page::Item;
            }
        }
        Outcome {
            valid: true,
            purchase,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Catalogue, Product};
    use crate::goals::Goal;
    use crate::search::Bm25Index;

    fn product(asin: &str, title: &str, options: Vec<(&str, Vec<&str>)>) -> Product {
        Product {
            asin: asin.into(),
            title: title.into(),
            description: "A sturdy mug.".into(),
            bullets: vec!["dishwasher safe".into(), " ".into(), "holds tea".into()],
            price_tag: "$12.5".into(),
            price: 12.5,
            options: options
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.into_iter().map(String::from).collect()))
                .collect(),
            category: "kitchen".into(),
            query: "travel mug".into(),
            product_category: "Home › Kitchen".into(),
            attributes: vec!["dishwasher safe".into(), "bpa free".into()],
            instruction: Some("i need a travel mug".into()),
            instruction_attributes: vec!["dishwasher safe".into(), "bpa free".into()],
            title_nouns: vec!["acme".into(), "mug".into()],
        }
    }

    /// A hand-made two-product world: goal 0 wants B000000001 in size small.
    fn world() -> Rc<World> {
        let catalogue = Catalogue {
            products: vec![
                product(
                    "B000000001",
                    "Acme Travel Mug",
                    vec![
                        ("size", vec!["large", "small"]),
                        ("style", vec!["large", "pro"]),
                    ],
                ),
                product("B000000002", "Acme Plain Mug", vec![]),
            ],
        };
        let docs: Vec<String> = catalogue.products.iter().map(|p| p.document()).collect();
        let goals = vec![Goal {
            product: 0,
            options: vec![
                ("size".into(), "small".into()),
                ("style".into(), "pro".into()),
            ],
            price_upper: 20.0,
            instruction: "i need a travel mug with size: small, and style: pro".into(),
        }];
        Rc::new(World {
            index: Bm25Index::build(&docs),
            catalogue,
            goals,
        })
    }

    #[test]
    fn shared_option_values_collapse_and_the_last_group_wins() {
        let mut shop = Shop::new(world(), 0);
        assert!(shop.step("search[acme mug]").valid);
        // The shorter document ranks first (BM25 length normalisation).
        assert_eq!(shop.results(), &[1, 0]);
        assert!(shop.step("click[b000000001]").valid);
        let texts: Vec<String> = shop.clickables().into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            texts,
            vec![
                "back to search",
                "< prev",
                "description",
                "features",
                "reviews",
                "buy now",
                "large",
                "small",
                "pro"
            ]
        );
        assert!(shop.step("click[large]").valid);
        assert_eq!(
            shop.options(),
            &[("style".to_string(), "large".to_string())]
        );
        assert!(shop.step("click[small]").valid);
        assert!(shop.step("click[features]").valid);
        // Whitespace-only bullets are dropped like empty text nodes.
        assert!(
            shop.render()
                .ends_with("< Prev [SEP] dishwasher safe [SEP] holds tea")
        );
        assert!(shop.step("click[< prev]").valid);
        // Options survive a sub-page round trip.
        assert_eq!(shop.options().len(), 2);
        let outcome = shop.step("click[buy now]");
        // Attributes 2/2, options: small hits, style "large" misses, price ok → 4/5.
        let score = outcome.purchase.unwrap();
        assert_eq!(score.total, 0.8);
        assert!(
            shop.render()
                .contains("options [SEP] {\"size\": \"small\", \"style\": \"large\"} [SEP] attrs")
        );
        assert!(
            shop.render()
                .contains("Your score (min 0.0, max 1.0) [SEP] 0.8 [SEP]")
        );
        // Nothing happens after the purchase.
        assert!(!shop.step("search[mug]").valid);
    }

    #[test]
    fn prev_from_an_item_returns_to_its_results_page_without_options() {
        let mut shop = Shop::new(world(), 0);
        shop.step("search[acme mug]");
        shop.step("click[next >]");
        assert_eq!(shop.page_number(), 2);
        assert!(shop.page_results().is_empty());
        assert!(
            shop.render()
                .contains("Page 2 (Total results: 2) [SEP] < Prev [SEP] Next >")
        );
        shop.step("click[< prev]");
        shop.step("click[b000000002]");
        assert_eq!(shop.page(), &Page::Item);
        shop.step("click[< prev]");
        assert_eq!(shop.page(), &Page::Results);
        assert_eq!(shop.page_number(), 1);
        assert!(shop.options().is_empty());
        // Reviews are empty: only the navigation remains.
        shop.step("click[b000000002]");
        shop.step("click[reviews]");
        assert!(shop.render().ends_with("[SEP] Back to Search [SEP] < Prev"));
    }

    #[test]
    fn action_grammar_matches_the_reference_regex() {
        assert_eq!(parse_action("search[red mug]"), Some(("search", "red mug")));
        assert_eq!(parse_action("click[< prev]"), Some(("click", "< prev")));
        // Greedy groups: the name runs to the last usable '['.
        assert_eq!(parse_action("click[a[b]]"), Some(("click[a", "b]")));
        assert_eq!(parse_action("click[x]tail"), Some(("click", "x")));
        assert_eq!(parse_action("click[ab[]"), Some(("click", "ab[")));
        assert_eq!(parse_action("search[]"), None);
        assert_eq!(parse_action("[x]"), None);
        assert_eq!(parse_action("click x"), None);
        assert_eq!(parse_action("cl\nick[x]"), None);
        assert_eq!(parse_action("click[x]\nmore"), Some(("click", "x")));
    }

    #[test]
    fn tojson_sorts_and_escapes_like_flask() {
        let opts = vec![
            ("size".to_string(), "x-large".to_string()),
            ("color".to_string(), "men's <b>".to_string()),
        ];
        assert_eq!(
            tojson(&opts),
            r#"{"color": "men\u0027s \u003cb\u003e", "size": "x-large"}"#
        );
        assert_eq!(tojson(&[]), "{}");
        assert_eq!(
            tojson(&[("a".into(), "caf\u{e9}".into())]),
            r#"{"a": "caf\u00e9"}"#
        );
    }

    #[test]
    fn format_observation_quotes_parts_after_the_instruction() {
        let raw = "Instruction: [SEP] buy a mug [SEP] Back to Search [SEP] Page 1 (Total results: 0) [SEP] Next >";
        assert_eq!(
            Shop::format_observation(raw, "buy a mug"),
            "'Back to Search' [SEP] 'Page 1 (Total results: 0)' [SEP] 'Next >'"
        );
        assert_eq!(
            Shop::format_observation("Thank you", "buy a mug"),
            "Thank you"
        );
    }
}
