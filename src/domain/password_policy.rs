//! The password policy: Django's four default password validators, with
//! Django's numbers and messages. Every failing rule reports its own message.

use std::cmp::Ordering;
use std::collections::HashMap;

/// Django's common-password list (19,640 entries) and zxcvbn's 30,000 most
/// common passwords (see `data/README.md`): 40,101 distinct lines, sorted by
/// build.rs and searched in place, so an idle server holds none of it and a
/// check reads a few pages of it.
static COMMON: &str = include_str!(concat!(env!("OUT_DIR"), "/common-passwords.txt"));

/// Whether the sorted text of lines `lines` has the line `word`: a binary
/// search over byte offsets, each step widened to the line it falls in.
fn has_line(lines: &str, word: &str) -> bool {
    let bytes = lines.as_bytes();
    // [lo, hi) is whole lines: lo starts one, hi ends one.
    let (mut lo, mut hi) = (0, bytes.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = bytes[lo..mid].iter().rposition(|&b| b == b'\n').map_or(lo, |i| lo + i + 1);
        let end = bytes[start..hi].iter().position(|&b| b == b'\n').map_or(hi, |i| start + i);
        match lines[start..end].cmp(word) {
            Ordering::Equal => return true,
            Ordering::Less => lo = end + 1,
            Ordering::Greater => hi = start.saturating_sub(1),
        }
    }
    false
}

/// Account attributes a password must not resemble, with Django's names.
pub struct Attributes<'a> {
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub first_name: &'a str,
    pub last_name: &'a str,
}

const MAX_SIMILARITY: f64 = 0.7;

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
    if has_line(COMMON, &password.trim().to_lowercase()) {
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
        let lines: Vec<&str> = COMMON.split('\n').collect();
        assert_eq!(lines.len(), 40_101);
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted, without repeats");
        assert!(lines.iter().all(|l| !l.is_empty() && l.trim() == *l));
        assert!(lines.iter().all(|l| has_line(COMMON, l)), "every line is found");
        assert!(has_line(COMMON, "dragon") && has_line(COMMON, "jordan23"));
        assert_eq!(check("password", 8, &attrs()), vec!["This password is too common."]);
        assert_eq!(check("  PassWord ", 8, &attrs()), vec!["This password is too common."]);
    }

    #[test]
    fn the_search_finds_every_line_and_nothing_else() {
        for text in ["ab\nabc\nabcd\nb\nzz", "ab", ""] {
            let lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
            for w in &lines {
                assert!(has_line(text, w), "{w} in {text:?}");
            }
            for w in ["", "a", "abcde", "abd", "c", "zzz", "ab\n", "b\nzz", "\n"] {
                assert!(!has_line(text, w), "{w:?} in {text:?}");
            }
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
