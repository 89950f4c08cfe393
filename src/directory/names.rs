//! Usernames that external sources report, made comparable and safe to show.
//!
//! A directory may spell one person `ALICE` today and `alice` tomorrow, or in full-width
//! letters; without normalisation these become separate accounts (and separate audit trails)
//! for one person, or one account shadowing another in every list. Control and bidirectional
//! formatting characters let a name display as something it is not (`admin` followed by a
//! right-to-left override), so a name containing them is refused rather than stored.

use unicode_normalization::UnicodeNormalization;

/// Why a reported username cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameRefused {
    #[error("the source reported an empty username")]
    Empty,
    #[error("the username the source reported is longer than 256 characters")]
    TooLong,
    #[error(
        "the username the source reported contains a control or text-direction character \
         (U+{0:04X}), which could make it look like another person's; ask the directory's \
         administrator to correct it"
    )]
    Hidden(u32),
}

/// Characters that change how text around them is displayed without being visible: the
/// bidirectional embeddings, overrides, isolates and marks, zero-width characters, and the
/// byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// NFKC, then lowercase (NFKC again, since lowercasing can leave a non-normalised string);
/// refuses control and formatting characters.
pub fn normalise_username(raw: &str) -> Result<String, NameRefused> {
    if let Some(c) = raw
        .chars()
        .find(|c| c.is_control() || is_invisible_format(*c))
    {
        return Err(NameRefused::Hidden(c as u32));
    }
    let folded: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    let name: String = folded.nfkc().collect();
    // NFKC can produce new formatting characters from compatibility forms; check again.
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || is_invisible_format(*c))
    {
        return Err(NameRefused::Hidden(c as u32));
    }
    if name.is_empty() {
        return Err(NameRefused::Empty);
    }
    if name.chars().count() > 256 {
        return Err(NameRefused::TooLong);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_compatibility_forms_fold_to_one_name() {
        assert_eq!(normalise_username("ALICE").as_deref(), Ok("alice"));
        assert_eq!(normalise_username(" Alice ").as_deref(), Ok("alice"));
        assert_eq!(normalise_username("ＡＬＩＣＥ").as_deref(), Ok("alice"));
        assert_eq!(normalise_username("ﬁona").as_deref(), Ok("fiona"));
        assert_eq!(
            normalise_username("Ann@Example.COM").as_deref(),
            Ok("ann@example.com")
        );
    }

    #[test]
    fn control_and_direction_characters_are_refused() {
        for bad in [
            "admin\u{202E}nimda",
            "al\u{200B}ice",
            "bob\n",
            "eve\u{0000}",
            "\u{2066}root\u{2069}",
            "\u{FEFF}carol",
        ] {
            assert!(
                matches!(normalise_username(bad), Err(NameRefused::Hidden(_))),
                "{bad:?}"
            );
        }
        assert_eq!(normalise_username("   "), Err(NameRefused::Empty));
    }
}
