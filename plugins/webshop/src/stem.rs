//! # Porter (1980) stemming, as Lucene's `PorterStemFilter` applies it
//!
//! WebShop's search engine is pyserini's default English analyzer, whose
//! stemmer is Lucene's `PorterStemmer`: the *original* Porter algorithm
//! (not Porter2/Snowball English) with the two published departures of
//! Porter's own reference implementation — step 2 maps `-bli` to `-ble`
//! (instead of `-abli` to `-able`) and adds `-logi` → `-log`. Words of one or
//! two characters are left alone.
//!
//! Hand-rolled because crates.io has no maintained Porter v1 stemmer with
//! these departures: `rust-stemmers` is Porter2, and `porter-stemmer` 0.1.2
//! is an unmaintained single release (MPL-2.0) of the paper's variant.

/// The stem of a lower-case word.
pub fn stem(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() <= 2 {
        return word.to_string();
    }
    let mut s = Stemmer {
        b: chars,
        k: 0,
        j: 0,
    };
    s.k = s.b.len() - 1;
    s.step1ab();
    s.step1c();
    s.step2();
    s.step3();
    s.step4();
    s.step5();
    s.b[..=s.k].iter().collect()
}

/// The word being stemmed: `b[..=k]` is the current word, `j` marks the end
/// of the stem before a matched suffix (as in Porter's reference code).
struct Stemmer {
    b: Vec<char>,
    k: usize,
    j: isize,
}

impl Stemmer {
    fn cons(&self, i: usize) -> bool {
        match self.b[i] {
            'a' | 'e' | 'i' | 'o' | 'u' => false,
            'y' => i == 0 || !self.cons(i - 1),
            _ => true,
        }
    }

    /// The number of vowel–consonant sequences in `b[..=j]`.
    fn m(&self) -> usize {
        let end = self.j;
        let mut n = 0;
        let mut i: isize = 0;
        loop {
            if i > end {
                return n;
            }
            if !self.cons(i as usize) {
                break;
            }
            i += 1;
        }
        i += 1;
        loop {
            loop {
                if i > end {
                    return n;
                }
                if self.cons(i as usize) {
                    break;
                }
                i += 1;
            }
            i += 1;
            n += 1;
            loop {
                if i > end {
                    return n;
                }
                if !self.cons(i as usize) {
                    break;
                }
                i += 1;
            }
            i += 1;
        }
    }

    fn vowel_in_stem(&self) -> bool {
        (0..=self.j).any(|i| !self.cons(i as usize))
    }

    fn double_consonant(&self, i: usize) -> bool {
        i >= 1 && self.b[i] == self.b[i - 1] && self.cons(i)
    }

    /// consonant–vowel–consonant ending at `i`, the last not w, x or y.
    fn cvc(&self, i: isize) -> bool {
        if i < 2 {
            return false;
        }
        let i = i as usize;
        if !self.cons(i) || self.cons(i - 1) || !self.cons(i - 2) {
            return false;
        }
        !matches!(self.b[i], 'w' | 'x' | 'y')
    }

    fn ends(&mut self, suffix: &str) -> bool {
        let len = suffix.chars().count();
        if len > self.k + 1 {
            return false;
        }
        let start = self.k + 1 - len;
        if !self.b[start..=self.k].iter().copied().eq(suffix.chars()) {
            return false;
        }
        self.j = self.k as isize - len as isize;
        true
    }

    fn set_to(&mut self, replacement: &str) {
        let start = (self.j + 1) as usize;
        self.b.truncate(start);
        self.b.extend(replacement.chars());
        self.k = (self.j + replacement.chars().count() as isize) as usize;
        // Keep `b` exactly the word so `..=k` indexing stays in bounds.
        self.b.truncate(self.k + 1);
    }

    fn replace_if_measured(&mut self, replacement: &str) {
        if self.m() > 0 {
            self.set_to(replacement);
        }
    }

    /// Plurals and -ed / -ing.
    fn step1ab(&mut self) {
        if self.b[self.k] == 's' {
            if self.ends("sses") {
                self.k -= 2;
            } else if self.ends("ies") {
                self.set_to("i");
            } else if self.b[self.k - 1] != 's' {
                self.k -= 1;
            }
        }
        if self.ends("eed") {
            if self.m() > 0 {
                self.k -= 1;
            }
        } else if (self.ends("ed") || self.ends("ing")) && self.vowel_in_stem() {
            self.k = self.j as usize;
            if self.ends("at") {
                self.set_to("ate");
            } else if self.ends("bl") {
                self.set_to("ble");
            } else if self.ends("iz") {
                self.set_to("ize");
            } else if self.double_consonant(self.k) {
                let ch = self.b[self.k];
                if !matches!(ch, 'l' | 's' | 'z') {
                    self.k -= 1;
                }
            } else {
                self.j = self.k as isize;
                if self.m() == 1 && self.cvc(self.k as isize) {
                    self.set_to("e");
                }
            }
        }
        self.b.truncate(self.k + 1);
    }

    /// Terminal y → i when the stem has a vowel.
    fn step1c(&mut self) {
        if self.ends("y") && self.vowel_in_stem() {
            self.b[self.k] = 'i';
        }
    }

    /// Applies the first rule whose suffix matches (and only that one).
    fn first_rule(&mut self, rules: &[(&str, &str)]) {
        for (suffix, replacement) in rules {
            if self.ends(suffix) {
                self.replace_if_measured(replacement);
                return;
            }
        }
    }

    /// Double suffixes to single ones.
    fn step2(&mut self) {
        if self.k == 0 {
            return;
        }
        let rules: &[(&str, &str)] = match self.b[self.k - 1] {
            'a' => &[("ational", "ate"), ("tional", "tion")],
            'c' => &[("enci", "ence"), ("anci", "ance")],
            'e' => &[("izer", "ize")],
            'l' => &[
                ("bli", "ble"),
                ("alli", "al"),
                ("entli", "ent"),
                ("eli", "e"),
                ("ousli", "ous"),
            ],
            'o' => &[("ization", "ize"), ("ation", "ate"), ("ator", "ate")],
            's' => &[
                ("alism", "al"),
                ("iveness", "ive"),
                ("fulness", "ful"),
                ("ousness", "ous"),
            ],
            't' => &[("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")],
            'g' => &[("logi", "log")],
            _ => &[],
        };
        self.first_rule(rules);
    }

    /// -ic-, -full, -ness and friends.
    fn step3(&mut self) {
        let rules: &[(&str, &str)] = match self.b[self.k] {
            'e' => &[("icate", "ic"), ("ative", ""), ("alize", "al")],
            'i' => &[("iciti", "ic")],
            'l' => &[("ical", "ic"), ("ful", "")],
            's' => &[("ness", "")],
            _ => &[],
        };
        self.first_rule(rules);
    }

    /// -ant, -ence and friends in a stem of measure > 1.
    fn step4(&mut self) {
        if self.k == 0 {
            return;
        }
        let matched = match self.b[self.k - 1] {
            'a' => self.ends("al"),
            'c' => self.ends("ance") || self.ends("ence"),
            'e' => self.ends("er"),
            'i' => self.ends("ic"),
            'l' => self.ends("able") || self.ends("ible"),
            'n' => self.ends("ant") || self.ends("ement") || self.ends("ment") || self.ends("ent"),
            'o' => {
                (self.ends("ion") && self.j >= 0 && matches!(self.b[self.j as usize], 's' | 't'))
                    || self.ends("ou")
            }
            's' => self.ends("ism"),
            't' => self.ends("ate") || self.ends("iti"),
            'u' => self.ends("ous"),
            'v' => self.ends("ive"),
            'z' => self.ends("ize"),
            _ => false,
        };
        if matched && self.m() > 1 {
            self.k = self.j as usize;
            self.b.truncate(self.k + 1);
        }
    }

    /// A final -e, and -ll → -l, in long stems.
    fn step5(&mut self) {
        self.j = self.k as isize;
        if self.b[self.k] == 'e' {
            let a = self.m();
            if a > 1 || (a == 1 && !self.cvc(self.k as isize - 1)) {
                self.k -= 1;
            }
        }
        if self.b[self.k] == 'l' && self.double_consonant(self.k) && self.m() > 1 {
            self.k -= 1;
        }
        self.b.truncate(self.k + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn classic_examples() {
        for (word, expected) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("cats", "cat"),
            ("feed", "feed"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("hopping", "hop"),
            ("falling", "fall"),
            ("filing", "file"),
            ("happy", "happi"),
            ("relational", "relat"),
            ("conditional", "condit"),
            ("generalization", "gener"),
            ("hopeful", "hope"),
            ("goodness", "good"),
            ("adjustment", "adjust"),
            ("adoption", "adopt"),
            ("controlling", "control"),
            ("shoes", "shoe"),
            ("women", "women"),
            ("washable", "washabl"),
            ("lasting", "last"),
            ("as", "as"),
        ] {
            assert_eq!(stem(word), expected, "{word}");
        }
    }

    #[test]
    fn lucene_departures() {
        // -bli → -ble (the paper has -abli → -able only) and -logi → -log.
        assert_eq!(stem("possibli"), "possibl");
        assert_eq!(stem("analogi"), "analog");
        assert_eq!(stem("archaeology"), "archaeolog");
    }
}
