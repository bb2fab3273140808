//! The password policy: Django's four default password validators, with
//! Django's numbers and messages. Every failing rule reports its own message.

use std::collections::HashMap;
use std::io::Read;
use std::sync::LazyLock;

/// Django's common-password list (19,640 entries) and zxcvbn's 30,000 most
/// common passwords, compressed inside the binary (see `data/README.md`).
static COMMON_GZ: [&[u8]; 2] =
    [include_bytes!("../../data/common-passwords.txt.gz"), include_bytes!("../../data/common-passwords-zxcvbn.txt.gz")];

static COMMON: LazyLock<Words> = LazyLock::new(|| {
    let mut words = Vec::new();
    for gz in COMMON_GZ {
        let mut text = String::new();
        // Both files are fixed at build time and checked by the tests below.
        if let Err(e) = flate2::read::GzDecoder::new(gz).read_to_string(&mut text) {
            tracing::error!(error = %e, "an embedded common-password list is unreadable");
        }
        words.extend(text.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()));
    }
    Words::new(words)
});

/// A set of words held as one sorted text and the offsets of its words,
/// searched by binary search: about 0.5 MB for the 40,000 common passwords,
/// where a set of strings kept about 3 MB of every idle server's memory.
struct Words {
    text: String,
    starts: Vec<u32>,
}

impl Words {
    fn new(mut words: Vec<String>) -> Words {
        words.sort_unstable();
        words.dedup();
        let mut text = String::with_capacity(words.iter().map(|w| w.len() + 1).sum());
        let mut starts = Vec::with_capacity(words.len());
        for word in &words {
            starts.push(u32::try_from(text.len()).expect("the lists are far below 4 GiB"));
            text.push_str(word);
            text.push('\n');
        }
        Words { text, starts }
    }

    fn contains(&self, word: &str) -> bool {
        self.starts.binary_search_by(|&start| self.word_at(start).cmp(word)).is_ok()
    }

    fn word_at(&self, start: u32) -> &str {
        let rest = &self.text[start as usize..];
        rest.split('\n').next().unwrap_or(rest)
    }

    fn len(&self) -> usize {
        self.starts.len()
    }
}

/// Account attributes a password must not resemble, with Django's names.
pub struct Attributes<'a> {
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub first_name: &'a str,
    pub last_name: &'a str,
}

const MAX_SIMILARITY: f64 = 0.7;

/// Loads the common-password list now rather than on the first request.
pub fn warm_up() -> usize {
    COMMON.len()
}

/// All the messages of the rules `password` breaks; empty when it passes.
pub fn check(password: &str, min_length: usize, attrs: &Attributes<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    if password.chars().count() < min_length {
        let s = if min_length == 1 { "" } else { "s" };
        errors.push(format!("This password is too short. It must contain at least {min_length} character{s}."));
    }
    if let Some(name) = too_similar(password, attrs) {
        errors.push(format!("The password is too similar to the {name}."));
    }
    if COMMON.contains(&password.trim().to_lowercase()) {
        errors.push("This password is too common.".into());
    }
    if !password.is_empty() && password.chars().all(char::is_numeric) {
        errors.push("This password is entirely numeric.".into());
    }
    errors
}

/// Django's `UserAttributeSimilarityValidator`: the first attribute whose
/// value, or a word of it, has a `quick_ratio` of at least 0.7.
fn too_similar(password: &str, attrs: &Attributes<'_>) -> Option<&'static str> {
    let password = password.to_lowercase();
    let candidates = [
        ("first name", Some(attrs.first_name)),
        ("last name", Some(attrs.last_name)),
        ("email address", attrs.email),
        ("phone number", attrs.phone),
    ];
    for (name, value) in candidates {
        let Some(value) = value.filter(|v| !v.is_empty()) else { continue };
        let value = value.to_lowercase();
        let parts = value.split(|c: char| !(c.is_alphanumeric() || c == '_')).chain(std::iter::once(value.as_str()));
        for part in parts {
            if !exceeds_length_ratio(&password, part) && quick_ratio(&password, part) >= MAX_SIMILARITY {
                return Some(name);
            }
        }
    }
    None
}

/// Django skips parts much shorter than the password.
fn exceeds_length_ratio(password: &str, part: &str) -> bool {
    let pwd_len = password.chars().count() as f64;
    let part_len = part.chars().count() as f64;
    pwd_len >= 10.0 * part_len && part_len < MAX_SIMILARITY / 2.0 * pwd_len
}

/// Python's `SequenceMatcher.quick_ratio`: 2·(shared characters)/(total).
fn quick_ratio(a: &str, b: &str) -> f64 {
    let total = a.chars().count() + b.chars().count();
    if total == 0 {
        return 1.0;
    }
    let mut counts: HashMap<char, isize> = HashMap::new();
    for c in b.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let mut matches = 0usize;
    for c in a.chars() {
        if let Some(n) = counts.get_mut(&c).filter(|n| **n > 0) {
            *n -= 1;
            matches += 1;
        }
    }
    2.0 * matches as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs() -> Attributes<'static> {
        Attributes {
            email: Some("ana.smith@example.com"),
            phone: Some("+14155552671"),
            first_name: "Ana",
            last_name: "Smith",
        }
    }

    #[test]
    fn the_list_holds_django_s_and_zxcvbn_s() {
        assert_eq!(warm_up(), 40_101);
        assert!(COMMON.contains("dragon") && COMMON.contains("jordan23"));
        assert_eq!(check("password", 8, &attrs()), vec!["This password is too common."]);
        assert_eq!(check("  PassWord ", 8, &attrs()), vec!["This password is too common."]);
    }

    #[test]
    fn the_word_set_finds_every_word_and_nothing_else() {
        let words = Words::new(["abc", "ab", "abcd", "zz", "ab", "b"].map(String::from).to_vec());
        assert_eq!(words.len(), 5);
        for w in ["ab", "abc", "abcd", "b", "zz"] {
            assert!(words.contains(w), "{w}");
        }
        for w in ["", "a", "abcde", "abd", "c", "zzz", "ab\n"] {
            assert!(!words.contains(w), "{w:?}");
        }
    }

    #[test]
    fn each_rule_reports_its_own_message() {
        assert_eq!(
            check("1234", 8, &attrs()),
            vec![
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ]
        );
        assert_eq!(check("9081726354", 8, &attrs()), vec!["This password is entirely numeric."]);
        assert!(check("correct horse battery staple", 8, &attrs()).is_empty());
    }

    #[test]
    fn similarity_follows_django() {
        assert_eq!(check("ana.smith@example", 8, &attrs()), vec!["The password is too similar to the email address."]);
        assert_eq!(check("smith1234", 8, &attrs()), vec!["The password is too similar to the last name."]);
        assert_eq!(check("+14155552671x", 8, &attrs()), vec!["The password is too similar to the phone number."]);
        assert!((quick_ratio("abcd", "bcde") - 0.75).abs() < 1e-9);
    }
}
