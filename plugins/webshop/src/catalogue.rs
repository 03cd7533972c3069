//! # The product catalogue: WebShop's file schema and its loaded form
//!
//! WebShop reads two files (envs.md §4.2):
//! - `items_shuffle_1000.json`: a list of raw products ([`RawProduct`]);
//! - `items_ins_v2_1000.json`: asin → [`RawAttributes`] (attributes, the
//!   instruction and the attributes it mentions).
//!
//! [`Catalogue::from_raw`] applies the reference loader's rules: skip `nan`,
//! over-long and duplicate asins; lower-case option names and values with `/`
//! → ` | `; parse `pricing` into a price tag and a fixed price (a range gets a
//! seeded uniform draw); lower-case the query. Every kept product needs an
//! attributes entry (the reference raises a `KeyError` otherwise).
//!
//! spaCy's noun tags, which the reward's title score needs, cannot run here:
//! each attributes entry may carry `title_nouns` (the generated catalogue
//! always does); real files without it fall back to [`heuristic_nouns`].
//! [`Catalogue::load_dir`] reads the two files from a directory.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use lamer_sdk::{EnvError, SeededRng};
use serde::{Deserialize, Serialize};

/// The product file's name.
pub const PRODUCTS_FILE: &str = "items_shuffle_1000.json";
/// The attributes/instructions file's name.
pub const ATTRIBUTES_FILE: &str = "items_ins_v2_1000.json";

/// One option value as stored in the product file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawOptionValue {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// `small_description`: a string or a list of strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bullets {
    One(String),
    Many(Vec<String>),
    /// `null` or absent: no bullet points.
    Missing(()),
}

impl Default for Bullets {
    fn default() -> Self {
        Bullets::Missing(())
    }
}

/// A product as stored in `items_shuffle_1000.json` (fields WebShop uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawProduct {
    pub asin: String,
    pub name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub full_description: String,
    #[serde(default)]
    pub small_description: Bullets,
    #[serde(default)]
    pub pricing: Option<String>,
    /// Option name → values. `serde_json` keeps the file's key order only
    /// with `preserve_order`; a `Vec` of pairs keeps it without that feature.
    #[serde(
        default,
        with = "ordered_options",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub customization_options: Vec<(String, Vec<RawOptionValue>)>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub category: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub query: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub product_category: String,
    #[serde(default, deserialize_with = "null_as_empty_list")]
    pub images: Vec<String>,
}

/// Real files hold `null` in some text fields; treat it as empty text.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn null_as_empty_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// An entry of `items_ins_v2_1000.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawAttributes {
    #[serde(default)]
    pub attributes: Vec<String>,
    #[serde(default)]
    pub instruction: Option<String>,
    #[serde(default)]
    pub instruction_attributes: Vec<String>,
    /// This port's addition: the title's nouns, standing in for spaCy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_nouns: Option<Vec<String>>,
}

/// (De)serialises a JSON object as ordered `(key, value)` pairs.
mod ordered_options {
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    use super::RawOptionValue;

    type Pairs = Vec<(String, Vec<RawOptionValue>)>;

    pub fn serialize<S: Serializer>(pairs: &Pairs, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(pairs.len()))?;
        for (k, v) in pairs {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Pairs, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of option name → list of {value, image}, or null")
            }
            fn visit_unit<E>(self) -> Result<Pairs, E> {
                Ok(Vec::new())
            }
            fn visit_none<E>(self) -> Result<Pairs, E> {
                Ok(Vec::new())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Option<Vec<RawOptionValue>>>()? {
                    // The reference skips options whose contents are null.
                    if let Some(v) = v {
                        pairs.push((k, v));
                    }
                }
                Ok(pairs)
            }
        }
        d.deserialize_any(PairsVisitor)
    }
}

/// A loaded product, as the pages and the reward see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Upper-case as in the file.
    pub asin: String,
    pub title: String,
    pub description: String,
    pub bullets: Vec<String>,
    /// `$12.99` or `$10.0 to $20.5` (Python float formatting).
    pub price_tag: String,
    /// The fixed price the reward compares with the goal's limit.
    pub price: f64,
    /// Option name → values, lower-cased, in file order.
    pub options: Vec<(String, Vec<String>)>,
    pub category: String,
    pub query: String,
    pub product_category: String,
    /// `Attributes` (the reward's fuzzy-matched list); `DUMMY_ATTR` if absent.
    pub attributes: Vec<String>,
    /// The synthetic instruction, if the product has one.
    pub instruction: Option<String>,
    pub instruction_attributes: Vec<String>,
    /// Lower-case nouns of the title (with repeats), replacing spaCy.
    pub title_nouns: Vec<String>,
}

impl Product {
    /// The search document: lower-cased title, description, first bullet and
    /// `name: v1, v2, and name2: …` (WebShop's `convert_product_file_format`).
    pub fn document(&self) -> String {
        let option_text = self
            .options
            .iter()
            .map(|(name, values)| format!("{name}: {}", values.join(", ")))
            .collect::<Vec<_>>()
            .join(", and ");
        let first_bullet = self.bullets.first().map(String::as_str).unwrap_or("");
        [
            self.title.as_str(),
            self.description.as_str(),
            first_bullet,
            option_text.as_str(),
        ]
        .join(" ")
        .to_lowercase()
    }

    /// The option group a clicked value belongs to: values shared between
    /// groups collapse to one clickable, and the last group wins.
    pub fn option_group_of(&self, value: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(_, values)| values.iter().any(|v| v == value))
            .map(|(name, _)| name.as_str())
    }
}

/// All products, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    pub products: Vec<Product>,
}

/// Python's `str(float)` for the values prices and scores take.
pub fn python_float(x: f64) -> String {
    if x.is_finite() && x == x.trunc() && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// The amounts in a pricing string: split on `$`, keep digits and dots.
fn parse_pricing(pricing: &str) -> Vec<f64> {
    pricing
        .split('$')
        .skip(1)
        .filter_map(|piece| {
            let digits: String = piece
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            digits.parse::<f64>().ok()
        })
        .collect()
}

/// Words spaCy never tags as nouns, for titles without stored nouns.
const NON_NOUNS: &[&str] = &[
    "a", "an", "and", "the", "for", "with", "of", "in", "on", "to", "by", "at", "from", "or", "&",
    "new", "set", "pack", "count", "inch", "ounce", "oz", "small", "large", "medium", "big",
    "mini", "long", "short", "soft", "hard", "high", "low", "premium", "natural", "organic",
    "black", "white", "red", "blue", "green", "pink", "grey", "gray",
];

/// A stand-in for spaCy's NOUN/PROPN tags when a title's nouns are not
/// stored: alphabetic words of three or more letters that are not in a short
/// list of function words and common adjectives. Approximate by design.
pub fn heuristic_nouns(title: &str) -> Vec<String> {
    title
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| w.chars().count() >= 3 && w.chars().all(char::is_alphabetic))
        .map(str::to_lowercase)
        .filter(|w| !NON_NOUNS.contains(&w.as_str()) && !w.ends_with("ly"))
        .collect()
}

impl Catalogue {
    /// Loads raw products with their attributes entries, as WebShop's
    /// `load_products` does. `seed` draws the prices of ranged products.
    pub fn from_raw(
        raw: Vec<RawProduct>,
        attributes: &BTreeMap<String, RawAttributes>,
        seed: u64,
    ) -> Result<Self, EnvError> {
        let mut rng = SeededRng::new(seed);
        let mut seen = HashSet::new();
        let mut products = Vec::with_capacity(raw.len());
        for p in raw {
            if p.asin == "nan" || p.asin.chars().count() > 10 || !seen.insert(p.asin.clone()) {
                continue;
            }
            let Some(attrs) = attributes.get(&p.asin) else {
                return Err(EnvError::DataUnavailable(format!(
                    "{ATTRIBUTES_FILE} has no entry for asin {}; every product in \
                     {PRODUCTS_FILE} needs one",
                    p.asin
                )));
            };
            let amounts = p.pricing.as_deref().map(parse_pricing).unwrap_or_default();
            let (price_tag, price) = match amounts.as_slice() {
                [] => ("$100.0".to_string(), 100.0),
                [one] => (format!("${}", python_float(*one)), *one),
                [lo, hi, ..] => (
                    format!("${} to ${}", python_float(*lo), python_float(*hi)),
                    lo + (hi - lo) * rng.unit(),
                ),
            };
            let options = p
                .customization_options
                .iter()
                .map(|(name, values)| {
                    (
                        name.to_lowercase(),
                        values
                            .iter()
                            .map(|v| v.value.trim().replace('/', " | ").to_lowercase())
                            .collect(),
                    )
                })
                .collect();
            let bullets = match p.small_description {
                Bullets::One(s) => vec![s],
                Bullets::Many(v) => v,
                Bullets::Missing(()) => Vec::new(),
            };
            let attributes_list = if attrs.attributes.is_empty() {
                vec!["DUMMY_ATTR".to_string()]
            } else {
                attrs.attributes.clone()
            };
            let title_nouns = attrs
                .title_nouns
                .clone()
                .unwrap_or_else(|| heuristic_nouns(&p.name));
            products.push(Product {
                asin: p.asin,
                title: p.name,
                description: p.full_description,
                bullets,
                price_tag,
                price,
                options,
                category: p.category,
                query: p.query.trim().to_lowercase(),
                product_category: p.product_category,
                attributes: attributes_list,
                instruction: attrs.instruction.clone(),
                instruction_attributes: attrs.instruction_attributes.clone(),
                title_nouns,
            });
        }
        Ok(Catalogue { products })
    }

    /// Reads the two WebShop files from `dir`.
    pub fn load_dir(dir: &Path, seed: u64) -> Result<Self, EnvError> {
        let read = |name: &str| -> Result<String, EnvError> {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| {
                EnvError::DataUnavailable(format!(
                    "cannot read {} ({e}); grant a data directory holding WebShop's \
                     {PRODUCTS_FILE} and {ATTRIBUTES_FILE}, or use \"catalogue\": \"generated\"",
                    path.display()
                ))
            })
        };
        let products_text = read(PRODUCTS_FILE)?;
        let attributes_text = read(ATTRIBUTES_FILE)?;
        let raw: Vec<RawProduct> = serde_json::from_str(&products_text).map_err(|e| {
            EnvError::DataUnavailable(format!("{PRODUCTS_FILE} is not in WebShop's schema: {e}"))
        })?;
        let attributes: BTreeMap<String, RawAttributes> = serde_json::from_str(&attributes_text)
            .map_err(|e| {
                EnvError::DataUnavailable(format!(
                    "{ATTRIBUTES_FILE} is not in WebShop's schema: {e}"
                ))
            })?;
        Self::from_raw(raw, &attributes, seed)
    }

    /// The index of a product by asin.
    pub fn position(&self, asin: &str) -> Option<usize> {
        self.products.iter().position(|p| p.asin == asin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(asin: &str, pricing: Option<&str>) -> RawProduct {
        RawProduct {
            asin: asin.into(),
            name: "Acme Travel Mug".into(),
            full_description: "A mug.".into(),
            small_description: Bullets::One("keeps tea hot".into()),
            pricing: pricing.map(Into::into),
            customization_options: vec![(
                "Color".into(),
                vec![
                    RawOptionValue {
                        value: " Black/White ".into(),
                        image: None,
                    },
                    RawOptionValue {
                        value: "Red".into(),
                        image: None,
                    },
                ],
            )],
            category: "kitchen".into(),
            query: " Travel Mugs ".into(),
            product_category: "Home › Kitchen › Mugs".into(),
            images: vec!["img".into()],
        }
    }

    fn attrs() -> RawAttributes {
        RawAttributes {
            attributes: vec!["dishwasher safe".into()],
            instruction: Some("i need a travel mug".into()),
            instruction_attributes: vec!["dishwasher safe".into()],
            title_nouns: None,
        }
    }

    #[test]
    fn loader_applies_reference_rules() {
        let products = vec![
            raw("B000000001", Some("$12.99")),
            raw("B000000001", Some("$1")),
            raw("nan", None),
            raw("B00000000022", None),
            raw("B000000002", Some("$10.00 - $20.50")),
            raw("B000000003", None),
        ];
        let mut map = BTreeMap::new();
        for a in ["B000000001", "B000000002", "B000000003"] {
            map.insert(a.to_string(), attrs());
        }
        let c = Catalogue::from_raw(products, &map, 7).unwrap();
        assert_eq!(c.products.len(), 3);
        let p = &c.products[0];
        assert_eq!(p.price_tag, "$12.99");
        assert_eq!(p.price, 12.99);
        assert_eq!(p.options[0].0, "color");
        assert_eq!(p.options[0].1, vec!["black | white", "red"]);
        assert_eq!(p.query, "travel mugs");
        assert_eq!(p.bullets, vec!["keeps tea hot"]);
        assert_eq!(p.title_nouns, vec!["acme", "travel", "mug"]);
        let ranged = &c.products[1];
        assert_eq!(ranged.price_tag, "$10.0 to $20.5");
        assert!((10.0..=20.5).contains(&ranged.price));
        assert_eq!(c.products[2].price_tag, "$100.0");
        assert_eq!(
            p.document(),
            "acme travel mug a mug. keeps tea hot color: black | white, red"
        );
    }

    #[test]
    fn null_text_fields_load_as_empty() {
        let json = r#"[{"asin": "B000000009", "name": "Acme Mug", "full_description": null,
            "small_description": null, "pricing": null, "customization_options": null,
            "category": "kitchen", "query": "mug", "product_category": null, "images": null}]"#;
        let raw: Vec<RawProduct> = serde_json::from_str(json).unwrap();
        let mut map = BTreeMap::new();
        map.insert("B000000009".to_string(), attrs());
        let c = Catalogue::from_raw(raw, &map, 0).unwrap();
        let p = &c.products[0];
        assert_eq!(p.description, "");
        assert!(p.bullets.is_empty());
        assert!(p.options.is_empty());
        assert_eq!(p.price_tag, "$100.0");
        assert_eq!(p.document(), "acme mug   ");
    }

    #[test]
    fn missing_attributes_entry_is_reported() {
        let err =
            Catalogue::from_raw(vec![raw("B0MISSING1", None)], &BTreeMap::new(), 0).unwrap_err();
        assert!(matches!(err, EnvError::DataUnavailable(m) if m.contains("B0MISSING1")));
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Catalogue::load_dir(dir.path(), 0).unwrap_err();
        assert!(matches!(err, EnvError::DataUnavailable(m) if m.contains(PRODUCTS_FILE)));
        std::fs::write(dir.path().join(PRODUCTS_FILE), "[]").unwrap();
        let err = Catalogue::load_dir(dir.path(), 0).unwrap_err();
        assert!(matches!(err, EnvError::DataUnavailable(m) if m.contains(ATTRIBUTES_FILE)));
    }

    #[test]
    fn python_float_formatting() {
        assert_eq!(python_float(15.0), "15.0");
        assert_eq!(python_float(12.99), "12.99");
        assert_eq!(python_float(2.0 / 3.0), "0.6666666666666666");
        assert_eq!(python_float(0.0), "0.0");
    }
}
