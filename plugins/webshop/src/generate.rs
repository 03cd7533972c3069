//! # A generated catalogue in WebShop's schema (envs.md §6.2)
//!
//! WebShop's product files cannot be fetched here, so the default catalogue
//! is generated from one seed, in exactly the schema of
//! `items_shuffle_1000.json` and `items_ins_v2_1000.json` (plus the stored
//! title nouns), and then goes through the same loader as the real files.
//! The vocabulary is this crate's own; no real listing is recreated.
//!
//! The generator keeps the reference's difficulty drivers:
//! - **near-duplicates**: every search query (`"<modifier> <type>"`) has a
//!   group of 6–11 products of the same type from different made-up brands,
//!   sharing most attributes, so the title and type score matter;
//! - **shared attributes**: attributes come from a per-category vocabulary
//!   and appear in bullets and descriptions, so substring matches happen;
//! - **options that must be clicked**: most products have one or two option
//!   groups (colour, size, pack, flavour, scent, style) and a goal names one
//!   value of each;
//! - **price limits under a distractor's price**: prices in a group spread
//!   around the type's base price, while a goal's limit is one of the next
//!   four multiples of ten above its own product's price.
//!
//! Option values never contain a colour word of `COLOR_SET` inside another
//! word (e.g. "ash" in "washed"), so clicking the goal's options always
//! satisfies the reward's colour normalisation.

use std::collections::{BTreeMap, HashSet};

use lamer_sdk::SeededRng;

use crate::catalogue::{Bullets, RawAttributes, RawOptionValue, RawProduct};

/// Products in the default generated catalogue.
pub const PRODUCT_COUNT: usize = 1000;

/// One product type of a category.
struct Kind {
    /// Singular type, e.g. "rain jacket"; all its words are nouns.
    name: &'static str,
    /// Query modifiers; each makes one query group `"<modifier> <name>"`.
    modifiers: &'static [&'static str],
    /// Base price in dollars.
    base_price: f64,
    /// Names of the option groups this type may offer (see [`option_pool`]).
    options: &'static [&'static str],
}

struct Category {
    /// `category` field.
    name: &'static str,
    /// The first two levels of `product_category`.
    path: [&'static str; 2],
    kinds: &'static [Kind],
    attributes: &'static [&'static str],
    /// Nouns that may follow "for" in a title (an audience or place).
    audiences: &'static [&'static str],
}

const fn kind(
    name: &'static str,
    modifiers: &'static [&'static str],
    base_price: f64,
    options: &'static [&'static str],
) -> Kind {
    Kind {
        name,
        modifiers,
        base_price,
        options,
    }
}

const CATEGORIES: &[Category] = &[
    Category {
        name: "apparel",
        path: ["Apparel", "Everyday Wear"],
        kinds: &[
            kind(
                "hoodie",
                &["fleece", "zip", "cropped"],
                34.0,
                &["color", "size"],
            ),
            kind(
                "rain jacket",
                &["packable", "hooded", "lined"],
                68.0,
                &["color", "size"],
            ),
            kind(
                "jogger",
                &["cotton", "tapered", "cargo"],
                29.0,
                &["color", "size"],
            ),
            kind("sock", &["wool", "ankle", "crew"], 12.0, &["color", "pack"]),
            kind("beanie", &["knit", "cuffed", "slouchy"], 15.0, &["color"]),
            kind(
                "polo shirt",
                &["pique", "slim", "classic"],
                26.0,
                &["color", "size"],
            ),
            kind(
                "sneaker",
                &["canvas", "trail", "slip"],
                58.0,
                &["color", "shoe size"],
            ),
            kind("scarf", &["chunky", "plaid", "silk"], 19.0, &["color"]),
        ],
        attributes: &[
            "machine wash",
            "hand wash only",
            "quick drying",
            "moisture wicking",
            "relaxed fit",
            "elastic waistband",
            "breathable fabric",
            "wrinkle resistant",
            "tumble dry",
            "reinforced seams",
            "soft touch lining",
            "button closure",
            "stretch knit",
            "odor control",
        ],
        audiences: &["women", "men", "kids", "teens", "hiking", "travel"],
    },
    Category {
        name: "kitchen",
        path: ["Home", "Kitchen Supplies"],
        kinds: &[
            kind(
                "travel mug",
                &["insulated", "leakproof", "ceramic"],
                22.0,
                &["color", "capacity"],
            ),
            kind(
                "chef knife",
                &["forged", "japanese", "serrated"],
                45.0,
                &["style"],
            ),
            kind(
                "cutting board",
                &["bamboo", "reversible", "grooved"],
                27.0,
                &["size"],
            ),
            kind(
                "frying pan",
                &["nonstick", "cast iron", "carbon"],
                39.0,
                &["size"],
            ),
            kind(
                "storage jar",
                &["airtight", "glass", "stackable"],
                18.0,
                &["pack", "capacity"],
            ),
            kind(
                "kettle",
                &["electric", "gooseneck", "stovetop"],
                49.0,
                &["color"],
            ),
            kind(
                "spatula",
                &["silicone", "slotted", "flexible"],
                9.0,
                &["color", "pack"],
            ),
            kind(
                "coffee grinder",
                &["burr", "manual", "compact"],
                64.0,
                &["style"],
            ),
        ],
        attributes: &[
            "dishwasher safe",
            "bpa free",
            "heat resistant",
            "easy to clean",
            "oven safe",
            "non slip base",
            "food grade",
            "rust proof",
            "ergonomic handle",
            "induction compatible",
            "lead free",
            "space saving",
            "scratch resistant",
            "double wall",
        ],
        audiences: &[
            "home",
            "camping",
            "office",
            "restaurants",
            "beginners",
            "gifting",
        ],
    },
    Category {
        name: "beauty",
        path: ["Beauty", "Personal Care"],
        kinds: &[
            kind(
                "face serum",
                &["hydrating", "vitamin", "overnight"],
                24.0,
                &["capacity", "pack"],
            ),
            kind(
                "shampoo",
                &["clarifying", "volumizing", "herbal"],
                14.0,
                &["scent", "capacity"],
            ),
            kind(
                "lip balm",
                &["tinted", "medicated", "organic"],
                7.0,
                &["flavor name", "pack"],
            ),
            kind(
                "hair brush",
                &["detangling", "paddle", "boar"],
                16.0,
                &["style"],
            ),
            kind(
                "body lotion",
                &["unscented", "whipped", "cooling"],
                13.0,
                &["scent", "capacity"],
            ),
            kind(
                "nail polish",
                &["gel", "matte", "quick"],
                9.0,
                &["color", "pack"],
            ),
            kind(
                "makeup sponge",
                &["latex", "beveled", "mini"],
                8.0,
                &["color", "pack"],
            ),
            kind(
                "face mask",
                &["clay", "sheet", "peel"],
                17.0,
                &["scent", "pack"],
            ),
        ],
        attributes: &[
            "paraben free",
            "cruelty free",
            "sulfate free",
            "fragrance free",
            "long lasting",
            "dermatologist tested",
            "travel size",
            "sensitive skin",
            "alcohol free",
            "natural ingredients",
            "fast absorbing",
            "non greasy",
            "vegan formula",
            "gentle cleansing",
        ],
        audiences: &[
            "women",
            "men",
            "teens",
            "dry skin",
            "curly hair",
            "daily use",
        ],
    },
    Category {
        name: "electronics",
        path: ["Electronics", "Gadgets"],
        kinds: &[
            kind(
                "wireless earbuds",
                &["sport", "noise cancelling", "budget"],
                59.0,
                &["color"],
            ),
            kind(
                "power bank",
                &["slim", "solar", "magnetic"],
                35.0,
                &["color", "capacity"],
            ),
            kind(
                "charging cable",
                &["braided", "coiled", "right angle"],
                11.0,
                &["color", "length"],
            ),
            kind(
                "desk lamp",
                &["dimmable", "clamp", "folding"],
                38.0,
                &["color", "style"],
            ),
            kind(
                "bluetooth speaker",
                &["portable", "waterproof", "party"],
                79.0,
                &["color"],
            ),
            kind(
                "phone stand",
                &["adjustable", "aluminum", "foldable"],
                16.0,
                &["color"],
            ),
            kind(
                "webcam",
                &["autofocus", "wide angle", "streaming"],
                54.0,
                &["style"],
            ),
            kind(
                "keyboard",
                &["mechanical", "wireless", "ergonomic"],
                69.0,
                &["color", "style"],
            ),
        ],
        attributes: &[
            "fast charging",
            "long battery life",
            "usb c",
            "plug and play",
            "led indicator",
            "overheat protection",
            "high definition",
            "easy to install",
            "low latency",
            "touch control",
            "energy saving",
            "shock absorbing",
            "voice assistant",
            "built in microphone",
        ],
        audiences: &[
            "gaming", "office", "travel", "students", "laptops", "phones",
        ],
    },
    Category {
        name: "garden",
        path: ["Patio", "Garden Tools"],
        kinds: &[
            kind(
                "garden hose",
                &["expandable", "heavy duty", "coiled"],
                32.0,
                &["length", "color"],
            ),
            kind(
                "planter",
                &["ceramic", "hanging", "self watering"],
                21.0,
                &["size", "color"],
            ),
            kind(
                "pruning shear",
                &["bypass", "anvil", "ratchet"],
                19.0,
                &["style"],
            ),
            kind(
                "bird feeder",
                &["squirrel proof", "window", "tube"],
                24.0,
                &["style"],
            ),
            kind(
                "garden glove",
                &["leather", "bamboo", "thorn"],
                13.0,
                &["size", "pack"],
            ),
            kind(
                "string light",
                &["solar", "vintage", "fairy"],
                23.0,
                &["length", "style"],
            ),
            kind(
                "watering can",
                &["galvanized", "long spout", "plastic"],
                18.0,
                &["capacity", "color"],
            ),
            kind(
                "seed starter",
                &["biodegradable", "heated", "tray"],
                15.0,
                &["pack"],
            ),
        ],
        attributes: &[
            "weather resistant",
            "uv protected",
            "lightweight design",
            "no assembly required",
            "frost proof",
            "drainage hole",
            "kink free",
            "non toxic",
            "comfortable grip",
            "durable construction",
            "easy storage",
            "eco friendly",
            "puncture resistant",
            "wall mountable",
        ],
        audiences: &[
            "patios",
            "balconies",
            "gardeners",
            "yards",
            "greenhouses",
            "lawns",
        ],
    },
];

/// The values an option group draws from (the group's name is the key).
fn option_pool(name: &str) -> &'static [&'static str] {
    match name {
        "color" => &[
            "black",
            "white",
            "navy blue",
            "forest green",
            "charcoal",
            "burgundy",
            "beige",
            "light grey",
            "coral",
            "teal",
            "mustard yellow",
            "olive",
            "lavender",
            "sky blue",
            "red",
            "ivory",
            "plum",
        ],
        "size" => &[
            "small", "medium", "large", "x-large", "xx-large", "x-small", "one size",
        ],
        "shoe size" => &["6", "7", "8", "8.5", "9", "10", "11", "12"],
        "pack" => &[
            "pack of 2",
            "pack of 3",
            "pack of 4",
            "pack of 6",
            "pack of 10",
            "single",
        ],
        "capacity" => &[
            "8 ounce", "12 ounce", "16 ounce", "20 ounce", "1 liter", "2 liter", "10000mah",
            "20000mah",
        ],
        "length" => &[
            "3 feet", "6 feet", "10 feet", "25 feet", "50 feet", "100 feet",
        ],
        "style" => &[
            "classic", "modern", "compact", "deluxe", "pro", "basic", "premium", "travel",
        ],
        "scent" => &[
            "unscented",
            "vanilla",
            "eucalyptus",
            "citrus",
            "cucumber",
            "coconut",
            "fresh linen",
        ],
        "flavor name" => &["cherry", "mint", "honey", "vanilla", "coconut", "berry"],
        _ => &[],
    }
}

/// Syllables for made-up brand names.
const BRAND_HEADS: &[&str] = &[
    "vor", "kal", "zen", "mip", "quo", "bri", "dax", "lum", "nor", "fex", "jov", "pil", "sol",
    "tak", "wex", "yul", "har", "ost", "cru", "elv",
];
const BRAND_TAILS: &[&str] = &[
    "lix", "dora", "vak", "nio", "bery", "tek", "mond", "usa", "rix", "pel",
];

/// Descriptive words for titles (adjectives: never nouns).
const TITLE_EXTRAS: &[&str] = &[
    "Premium",
    "Everyday",
    "Upgraded",
    "Lightweight",
    "Essential",
    "Durable",
];

/// Instruction templates: `{q}` the query, `{a}` the attribute phrase.
const INSTRUCTION_TEMPLATES: &[&str] = &[
    "i am looking for a {q} that is {a}",
    "i need a {a} {q}",
    "find me a {q} that's {a}",
    "i want to buy a {q}, it should be {a}",
    "please get me a {a} {q}",
    "i'm searching for a {q} which is {a}",
];

fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn plural(noun: &str) -> String {
    if noun.ends_with('s') || noun.ends_with('h') {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

fn join_phrases(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The generated files: products in file order and the attributes map.
pub struct GeneratedFiles {
    pub products: Vec<RawProduct>,
    pub attributes: BTreeMap<String, RawAttributes>,
}

/// Generates the catalogue files for a seed.
pub fn generate(seed: u64) -> GeneratedFiles {
    let mut rng = SeededRng::new(lamer_sdk::mix_seed(seed, 0xca7a));
    // Every (category, kind, modifier) is one query group.
    let mut groups: Vec<(usize, usize, usize)> = Vec::new();
    for (c, category) in CATEGORIES.iter().enumerate() {
        for (k, kind) in category.kinds.iter().enumerate() {
            for m in 0..kind.modifiers.len() {
                groups.push((c, k, m));
            }
        }
    }
    // Spread PRODUCT_COUNT products over the groups, 6–11 per group.
    let mut sizes: Vec<usize> = groups.iter().map(|_| 6).collect();
    let mut total: usize = sizes.iter().sum();
    while total < PRODUCT_COUNT {
        let g = rng.index(sizes.len());
        if sizes[g] < 11 {
            sizes[g] += 1;
            total += 1;
        }
    }
    let mut asins = HashSet::new();
    let mut products = Vec::with_capacity(PRODUCT_COUNT);
    let mut attributes = BTreeMap::new();
    for (&(c, k, m), &size) in groups.iter().zip(&sizes) {
        let category = &CATEGORIES[c];
        let kind = &category.kinds[k];
        let modifier = kind.modifiers[m];
        let query = format!("{modifier} {}", kind.name);
        // The group's shared attribute core: near-duplicates share most of it.
        let core: Vec<usize> = rng.sample_indices(category.attributes.len(), 5);
        for _ in 0..size {
            let asin = loop {
                let mut s = String::from("B0");
                for _ in 0..8 {
                    let x = rng.index(36) as u32;
                    s.push(char::from_digit(x, 36).unwrap_or('0').to_ascii_uppercase());
                }
                if asins.insert(s.clone()) {
                    break s;
                }
            };
            let (raw, attrs) = product(&mut rng, category, kind, modifier, &query, &core, &asin);
            attributes.insert(asin, attrs);
            products.push(raw);
        }
    }
    // The reference file is shuffled too.
    rng.shuffle(&mut products);
    GeneratedFiles {
        products,
        attributes,
    }
}

fn product(
    rng: &mut SeededRng,
    category: &Category,
    kind: &Kind,
    modifier: &str,
    query: &str,
    core: &[usize],
    asin: &str,
) -> (RawProduct, RawAttributes) {
    let brand = format!(
        "{}{}",
        rng.choose(BRAND_HEADS).copied().unwrap_or("vor"),
        rng.choose(BRAND_TAILS).copied().unwrap_or("lix")
    );
    // Title: Brand [Extra] Modifier Kind [for Audience].
    let mut title_words = vec![title_case(&brand)];
    let mut nouns = vec![brand.clone()];
    if rng.chance(0.5) {
        title_words.push(
            rng.choose(TITLE_EXTRAS)
                .copied()
                .unwrap_or("Premium")
                .to_string(),
        );
    }
    title_words.push(title_case(modifier));
    title_words.push(title_case(kind.name));
    nouns.extend(kind.name.split(' ').map(String::from));
    if rng.chance(0.6) {
        let audience = rng.choose(category.audiences).copied().unwrap_or("home");
        title_words.push(format!("for {}", title_case(audience)));
        nouns.extend(audience.split(' ').map(String::from));
    }
    let title = title_words.join(" ");

    // Attributes: 3–4 of the group's core plus 1–2 of the category's others.
    let mut attrs: Vec<&str> = Vec::new();
    let keep = 3 + rng.index(2);
    for &i in rng.sample_indices(core.len(), keep).iter() {
        attrs.push(category.attributes[core[i]]);
    }
    let extra = 1 + rng.index(2);
    let others: Vec<usize> = (0..category.attributes.len())
        .filter(|i| !core.contains(i))
        .collect();
    for &i in rng.sample_indices(others.len(), extra).iter() {
        attrs.push(category.attributes[others[i]]);
    }
    let mentioned_count = 1 + rng.index(2.min(attrs.len()));
    let mentioned: Vec<&str> = rng
        .sample_indices(attrs.len(), mentioned_count)
        .into_iter()
        .map(|i| attrs[i])
        .collect();
    let template = rng
        .choose(INSTRUCTION_TEMPLATES)
        .copied()
        .unwrap_or("i need a {a} {q}");
    let instruction = template
        .replace("{q}", query)
        .replace("{a}", &join_phrases(&mentioned));

    // Text: bullets carry the attributes, the description repeats some.
    let mut bullets: Vec<String> = attrs
        .iter()
        .map(|a| format!("{}: made for everyday {} use", title_case(a), kind.name))
        .collect();
    bullets.push(format!("Sold by {}", title_case(&brand)));
    let described: Vec<&str> = attrs.iter().take(2).copied().collect();
    let description = format!(
        "The {} {} {} from {} is {}. It ships in a recyclable box.",
        title_case(&brand),
        modifier,
        kind.name,
        category.path[0].to_lowercase(),
        join_phrases(&described)
    );

    // Options: 0–2 groups of the kind's pool, 2–5 values each.
    let group_count = match rng.index(10) {
        0 => 0,
        1..=4 => 1,
        _ => 2,
    }
    .min(kind.options.len());
    let mut options = Vec::new();
    let mut used = HashSet::new();
    for &g in rng.sample_indices(kind.options.len(), group_count).iter() {
        let name = kind.options[g];
        let pool = option_pool(name);
        let count = (2 + rng.index(4)).min(pool.len());
        let values: Vec<RawOptionValue> = rng
            .sample_indices(pool.len(), count)
            .into_iter()
            .map(|i| pool[i])
            .filter(|v| used.insert(*v))
            .map(|v| RawOptionValue {
                value: v.to_string(),
                image: None,
            })
            .collect();
        if !values.is_empty() {
            options.push((name.to_string(), values));
        }
    }

    // Price: spread around the kind's base price; some are ranges.
    let factor = 0.6 + 0.9 * rng.unit();
    let cents = (kind.base_price * factor * 100.0).round() / 100.0;
    let pricing = if rng.chance(0.15) {
        format!("${cents:.2} - ${:.2}", cents * 1.25)
    } else {
        format!("${cents:.2}")
    };

    let raw = RawProduct {
        asin: asin.to_string(),
        name: title,
        full_description: description,
        small_description: Bullets::Many(bullets),
        pricing: Some(pricing),
        customization_options: options,
        category: category.name.to_string(),
        query: query.to_string(),
        product_category: format!(
            "{} › {} › {}",
            category.path[0],
            category.path[1],
            title_case(&plural(kind.name))
        ),
        images: vec![format!("images/{}.jpg", asin.to_lowercase())],
    };
    let attrs = RawAttributes {
        attributes: attrs.iter().map(|s| s.to_string()).collect(),
        instruction: Some(instruction),
        instruction_attributes: mentioned.iter().map(|s| s.to_string()).collect(),
        title_nouns: Some(nouns),
    };
    (raw, attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::{COLOR_SET, normalize_color};

    #[test]
    fn generation_is_deterministic_and_sized() {
        let a = generate(0);
        let b = generate(0);
        assert_eq!(a.products, b.products);
        assert_eq!(a.products.len(), PRODUCT_COUNT);
        assert_eq!(a.attributes.len(), PRODUCT_COUNT);
        assert_ne!(generate(1).products, a.products);
        for p in &a.products {
            assert_eq!(p.asin.len(), 10);
            assert!(p.asin.starts_with("B0"));
        }
    }

    #[test]
    fn option_values_survive_colour_normalisation() {
        // A value's normalised colour must be one of its own words, so the
        // goal tuple ('color', value) still contains it as a token.
        for name in [
            "color",
            "size",
            "shoe size",
            "pack",
            "capacity",
            "length",
            "style",
            "scent",
            "flavor name",
        ] {
            for value in option_pool(name) {
                let normalised = normalize_color(value);
                assert!(
                    normalised == *value || value.split(' ').any(|w| w == normalised),
                    "{value} normalises to {normalised}"
                );
                assert!(COLOR_SET.len() == 102);
            }
        }
    }
}
