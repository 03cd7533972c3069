//! # The search engine: Lucene-style English analysis and BM25 ranking
//!
//! WebShop searches with pyserini's `LuceneSearcher` over one document per
//! product (see [`crate::catalogue::Product::document`]). This module
//! reproduces that engine in-process:
//!
//! - **Analysis** (documents and queries alike): split into word tokens
//!   (letters and digits; an apostrophe between letters and a dot between
//!   digits stay inside a token, approximating Unicode word segmentation),
//!   drop a trailing possessive `'s`, lower-case, remove the 33 Lucene English
//!   stop words, Porter-stem ([`crate::stem`]).
//! - **Ranking**: BM25 with Anserini's defaults `k1 = 0.9`, `b = 0.4`, in
//!   Lucene's form `idf · tf / (tf + k1·(1 − b + b·dl/avgdl))` with
//!   `idf = ln(1 + (N − df + 0.5)/(df + 0.5))`, summed over the query's terms
//!   (a repeated query term counts again, as a repeated `SHOULD` clause does).
//! - **Results**: documents with a positive score, best first, ties by
//!   document order, at most [`TOP_N`].
//!
//! Known difference from Lucene: document lengths are exact here, while
//! Lucene stores them lossily in one byte, so near-ties may order differently.

use std::collections::HashMap;

use crate::stem::stem;

/// How many hits a search returns (WebShop's `SEARCH_RETURN_N`).
pub const TOP_N: usize = 50;
/// BM25 term-frequency saturation (Anserini default).
pub const K1: f64 = 0.9;
/// BM25 length normalisation (Anserini default).
pub const B: f64 = 0.4;

/// Lucene's English stop words (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`).
pub const STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Splits text into raw lower-case word tokens (before stop words and stemming).
pub fn tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i + 1).copied();
        let joins = match (c, prev, next) {
            ('\'' | '\u{2019}', Some(p), Some(n)) => p.is_alphabetic() && n.is_alphabetic(),
            ('.' | ',', Some(p), Some(n)) => p.is_ascii_digit() && n.is_ascii_digit(),
            _ => false,
        };
        if joins && !current.is_empty() {
            current.push(if c == '\u{2019}' { '\'' } else { c });
        } else if !current.is_empty() {
            tokens.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// The analysed terms of a text: tokens, possessives stripped, stop words
/// removed, stemmed.
pub fn analyze(text: &str) -> Vec<String> {
    thread_local! {
        // Queries repeat words; stemming is a pure function, so a cache
        // changes nothing but speed. Bounded so it cannot grow without limit.
        static STEMS: std::cell::RefCell<HashMap<String, String>> =
            std::cell::RefCell::new(HashMap::new());
    }
    STEMS.with(|stems| {
        let mut stems = stems.borrow_mut();
        if stems.len() > 50_000 {
            stems.clear();
        }
        analyze_cached(text, &mut stems)
    })
}

/// [`analyze`] with a token → stem cache, for indexing many documents that
/// share a vocabulary.
fn analyze_cached(text: &str, stems: &mut HashMap<String, String>) -> Vec<String> {
    tokenize(text)
        .into_iter()
        .filter_map(|mut token| {
            if token.ends_with("'s") {
                token.truncate(token.len() - 2);
            }
            if token.is_empty() || STOP_WORDS.contains(&token.as_str()) {
                return None;
            }
            if let Some(stemmed) = stems.get(&token) {
                return Some(stemmed.clone());
            }
            let stemmed = stem(&token);
            stems.insert(token, stemmed.clone());
            Some(stemmed)
        })
        .collect()
}

/// An inverted index over a fixed list of documents.
#[derive(Debug, Clone)]
pub struct Bm25Index {
    /// term → (document, term frequency), documents ascending.
    postings: HashMap<String, Vec<(u32, u32)>>,
    doc_lengths: Vec<u32>,
    /// `k1·(1 − b + b·dl/avgdl)` per document.
    norms: Vec<f64>,
}

impl Bm25Index {
    /// Indexes documents; hits refer to positions in `documents`.
    pub fn build<S: AsRef<str>>(documents: &[S]) -> Self {
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut doc_lengths = Vec::with_capacity(documents.len());
        let mut counts: HashMap<String, u32> = HashMap::new();
        let mut stems = HashMap::new();
        for (doc, text) in documents.iter().enumerate() {
            let terms = analyze_cached(text.as_ref(), &mut stems);
            doc_lengths.push(terms.len() as u32);
            counts.clear();
            for term in terms {
                *counts.entry(term).or_insert(0) += 1;
            }
            for (term, tf) in counts.drain() {
                postings.entry(term).or_default().push((doc as u32, tf));
            }
        }
        for list in postings.values_mut() {
            list.sort_unstable();
        }
        let total: u64 = doc_lengths.iter().map(|&l| u64::from(l)).sum();
        let average_length = if doc_lengths.is_empty() {
            1.0
        } else {
            (total as f64 / doc_lengths.len() as f64).max(f64::MIN_POSITIVE)
        };
        let norms = doc_lengths
            .iter()
            .map(|&dl| K1 * (1.0 - B + B * f64::from(dl) / average_length))
            .collect();
        Bm25Index {
            postings,
            doc_lengths,
            norms,
        }
    }

    /// Number of indexed documents.
    pub fn len(&self) -> usize {
        self.doc_lengths.len()
    }

    /// Whether no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.doc_lengths.is_empty()
    }

    /// BM25 idf of a term present in `df` documents.
    pub fn idf(&self, df: usize) -> f64 {
        let n = self.len() as f64;
        let df = df as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// Every document's score for a query (0 for documents it misses).
    pub fn scores(&self, query: &str) -> Vec<f64> {
        let mut scores = vec![0.0; self.len()];
        for term in analyze(query) {
            let Some(list) = self.postings.get(&term) else {
                continue;
            };
            let idf = self.idf(list.len());
            for &(doc, tf) in list {
                let tf = f64::from(tf);
                scores[doc as usize] += idf * tf / (tf + self.norms[doc as usize]);
            }
        }
        scores
    }

    /// The best `limit` documents for a query with their scores: positive
    /// scores only, best first, ties by document order.
    pub fn search(&self, query: &str, limit: usize) -> Vec<(usize, f64)> {
        let mut hits: Vec<(usize, f64)> = self
            .scores(query)
            .into_iter()
            .enumerate()
            .filter(|&(_, s)| s > 0.0)
            .collect();
        let order = |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if hits.len() > limit && limit > 0 {
            hits.select_nth_unstable_by(limit - 1, order);
            hits.truncate(limit);
        }
        hits.sort_by(order);
        hits.truncate(limit);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_drops_stop_words_and_stems() {
        assert_eq!(
            analyze("The Women's Running-Shoes, for 3.5 inches"),
            vec!["women", "run", "shoe", "3.5", "inch"]
        );
        assert_eq!(STOP_WORDS.len(), 33);
        assert!(analyze("and the of").is_empty());
    }

    /// Three documents, scores worked out by hand.
    ///
    /// Analysed terms: d0 = [red, shoe] (dl 2), d1 = [blue, shoe, shoe, box]
    /// (dl 4), d2 = [red, hat] (dl 2); N = 3, avgdl = 8/3.
    /// idf(df=1) = ln(1 + 2.5/1.5) = ln(8/3); idf(df=2) = ln(1 + 1.5/2.5) = ln(1.6).
    /// Query "red shoes" = [red, shoe]:
    ///   norm(dl=2) = 0.9·(0.6 + 0.4·2/(8/3)) = 0.9·0.9 = 0.81
    ///   norm(dl=4) = 0.9·(0.6 + 0.4·4/(8/3)) = 0.9·1.2 = 1.08
    ///   d0 = ln1.6·1/1.81 + ln1.6·1/1.81
    ///   d1 = ln1.6·2/3.08
    ///   d2 = ln1.6·1/1.81
    #[test]
    fn bm25_matches_hand_computation() {
        let index = Bm25Index::build(&["a red shoe", "blue shoes, shoe box", "red hat"]);
        let ln16 = 1.6_f64.ln();
        let expected = [2.0 * ln16 / 1.81, 2.0 * ln16 / 3.08, ln16 / 1.81];
        let scores = index.scores("red shoes");
        for (got, want) in scores.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        let hits = index.search("red shoes", 50);
        let order: Vec<usize> = hits.iter().map(|h| h.0).collect();
        assert_eq!(order, vec![0, 1, 2]);
        // idf of a term in one document.
        assert!((index.idf(1) - (8.0_f64 / 3.0).ln()).abs() < 1e-12);
    }

    #[test]
    fn ties_keep_document_order_and_misses_are_dropped() {
        let index = Bm25Index::build(&["green cup", "plain mug", "green cup", "green cup"]);
        let hits = index.search("green", 2);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![0, 2]);
        assert!(index.search("teapot", 50).is_empty());
        assert!(index.search("the", 50).is_empty());
    }
}
