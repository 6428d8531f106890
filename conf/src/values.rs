//! Scalar value syntaxes of swanctl.conf, as strongSwan's VICI backend
//! (`src/libcharon/plugins/vici/vici_config.c`) parses them.
//!
//! Contract: each function takes the value text and returns the typed value
//! or a short reason (the caller adds the location). Numbers follow C's
//! `strtoul(…, 0)`: decimal, `0x` hex, leading-`0` octal. Unlike C, values
//! that overflow their type are rejected instead of wrapping.

use std::time::Duration;

/// Boolean: `yes|true|enabled|1` / `no|false|disabled|0`, any case.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "enabled" | "1" => Ok(true),
        "no" | "false" | "disabled" | "0" => Ok(false),
        _ => Err(format!("'{s}' is not a boolean (yes/no)")),
    }
}

/// Splits a C `strtoul(s, &end, 0)` prefix off `s`: returns the value and
/// the unparsed rest. Requires at least one digit.
fn strtou64(s: &str) -> Result<(u64, &str), String> {
    let (radix, digits) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, hex)
    } else if let Some(octal) = s.strip_prefix('0')
        && octal.starts_with(|c: char| c.is_ascii_digit())
    {
        (8, octal)
    } else {
        (10, s)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if end == 0 {
        return Err(format!("'{s}' is not a number"));
    }
    let value =
        u64::from_str_radix(&digits[..end], radix).map_err(|_| format!("'{s}' is too large"))?;
    Ok((value, &digits[end..]))
}

/// Unsigned integer that must consume the whole value.
pub fn parse_u64(s: &str) -> Result<u64, String> {
    match strtou64(s)? {
        (v, "") => Ok(v),
        _ => Err(format!("'{s}' is not a number")),
    }
}

/// 32-bit unsigned integer.
pub fn parse_u32(s: &str) -> Result<u32, String> {
    u32::try_from(parse_u64(s)?).map_err(|_| format!("'{s}' does not fit in 32 bits"))
}

/// UDP port (1-65535; 0 is not a port).
pub fn parse_port(s: &str) -> Result<u16, String> {
    match parse_u64(s)? {
        p @ 1..=65535 => Ok(p as u16),
        _ => Err(format!("'{s}' is not a port number (1-65535)")),
    }
}

/// Relative time: a number with an optional `s`, `m`, `h` or `d` unit
/// (seconds if none), spaces allowed between them.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, rest) = strtou64(s)?;
    let rest = rest.trim_start_matches(' ');
    let factor: u64 = match rest {
        "" | "s" | "S" => 1,
        "m" | "M" => 60,
        "h" | "H" => 3600,
        "d" | "D" => 86_400,
        _ => return Err(format!("'{s}' is not a duration (use s, m, h or d)")),
    };
    n.checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// Byte or packet volume: a number with an optional `k`, `m` or `g` suffix
/// (powers of 1024); saturates at `u64::MAX` like strongSwan.
pub fn parse_volume(s: &str) -> Result<u64, String> {
    let (n, rest) = strtou64(s)?;
    let rest = rest.trim_start_matches(' ');
    let factor: u64 = match rest {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => return Err(format!("'{s}' is not a volume (use k, m or g suffixes)")),
    };
    Ok(n.saturating_mul(factor))
}

/// Value part of an XFRM mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkValue {
    /// A fixed value (already masked).
    Fixed(u32),
    /// `%unique`: a unique value per CHILD_SA instance.
    Unique,
    /// `%unique-dir`: a unique value per CHILD_SA and direction.
    UniqueDir,
    /// `%same` (output marks only): the value of the matching `mark_in`/`mark_out`.
    Same,
}

/// Netfilter mark and mask (`mark_in`, `mark_out`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The mark value.
    pub value: MarkValue,
    /// The mask; `0` means no mark.
    pub mask: u32,
}

impl Mark {
    /// No mark (strongSwan's default `0/0x00000000`).
    pub const NONE: Mark = Mark {
        value: MarkValue::Fixed(0),
        mask: 0,
    };

    /// Whether a mark is configured at all.
    pub fn is_set(&self) -> bool {
        self.mask != 0 || self.value != MarkValue::Fixed(0)
    }
}

impl std::fmt::Display for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.value {
            MarkValue::Fixed(v) => write!(f, "{v:#x}/{:#010x}", self.mask),
            MarkValue::Unique => write!(f, "%unique/{:#010x}", self.mask),
            MarkValue::UniqueDir => write!(f, "%unique-dir/{:#010x}", self.mask),
            MarkValue::Same => write!(f, "%same/{:#010x}", self.mask),
        }
    }
}

/// `mark_from_string`: `value[/mask]`, `%unique`, `%unique-dir`; the mask
/// defaults to `0xffffffff` and is applied to a fixed value.
pub fn parse_mark(s: &str) -> Result<Mark, String> {
    let (value_text, mask_text) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    let mask = match mask_text {
        Some(m) => parse_u32(m).map_err(|_| format!("invalid mark mask in '{s}'"))?,
        None => u32::MAX,
    };
    let value = match value_text.to_ascii_lowercase().as_str() {
        "%unique" => MarkValue::Unique,
        "%unique-dir" => MarkValue::UniqueDir,
        _ => MarkValue::Fixed(
            parse_u32(value_text).map_err(|_| format!("invalid mark value in '{s}'"))? & mask,
        ),
    };
    Ok(Mark { value, mask })
}

/// `set_mark_in`/`set_mark_out`: `value[/mask]` or `%same` (charon's `mark_from_string` with
/// `MARK_OP_SAME`: the unique values are not accepted for output marks).
pub fn parse_set_mark(s: &str) -> Result<Mark, String> {
    let (value_text, mask_text) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    if value_text.trim().eq_ignore_ascii_case("%same") {
        let mask = match mask_text {
            Some(m) => parse_u32(m).map_err(|_| format!("invalid mark mask in '{s}'"))?,
            None => u32::MAX,
        };
        return Ok(Mark {
            value: MarkValue::Same,
            mask,
        });
    }
    match parse_mark(s)? {
        Mark {
            value: MarkValue::Unique | MarkValue::UniqueDir,
            ..
        } => Err(format!(
            "'{s}': %unique is not allowed for an output mark (a value or %same is)"
        )),
        mark => Ok(mark),
    }
}

/// XFRM interface ID (`if_id_in`, `if_id_out`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfId {
    /// A fixed interface ID; `0` means none.
    Fixed(u32),
    /// `%unique`: unique per CHILD_SA instance.
    Unique,
    /// `%unique-dir`: unique per CHILD_SA and direction.
    UniqueDir,
}

impl std::fmt::Display for IfId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IfId::Fixed(v) => write!(f, "{v}"),
            IfId::Unique => f.write_str("%unique"),
            IfId::UniqueDir => f.write_str("%unique-dir"),
        }
    }
}

/// `if_id_from_string`.
pub fn parse_if_id(s: &str) -> Result<IfId, String> {
    match s.to_ascii_lowercase().as_str() {
        "%unique" => Ok(IfId::Unique),
        "%unique-dir" => Ok(IfId::UniqueDir),
        _ => parse_u32(s)
            .map(IfId::Fixed)
            .map_err(|_| format!("'{s}' is not an interface ID")),
    }
}

/// Splits a comma separated list, trimming blanks and dropping empty items
/// (swanctl's `add_list_key`).
pub fn split_list(s: &str) -> Vec<&str> {
    s.split(',')
        .map(|p| p.trim_matches(|c| c == ' ' || c == '\t'))
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_strtoul_base_zero() {
        assert_eq!(parse_u32("10"), Ok(10));
        assert_eq!(parse_u32("0x10"), Ok(16));
        assert_eq!(parse_u32("010"), Ok(8));
        assert_eq!(parse_u32("0"), Ok(0));
        assert!(parse_u32("4294967296").is_err());
        assert!(parse_u32("-1").is_err());
        assert!(parse_u32("12a").is_err());
        assert!(parse_u32("").is_err());
        assert!(parse_u64("99999999999999999999999").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(14_400)));
        assert_eq!(parse_duration("1 d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("2H"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("1.5h").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("1hs").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("18446744073709551615d").is_err());
    }

    #[test]
    fn volumes() {
        assert_eq!(parse_volume("500"), Ok(500));
        assert_eq!(parse_volume("1k"), Ok(1024));
        assert_eq!(parse_volume("2M"), Ok(2 << 20));
        assert_eq!(parse_volume("3 g"), Ok(3 << 30));
        assert_eq!(parse_volume("18446744073709551615g"), Ok(u64::MAX));
        assert!(parse_volume("1t").is_err());
        assert!(parse_volume("1kb").is_err());
    }

    #[test]
    fn bools() {
        for t in ["yes", "TRUE", "enabled", "1"] {
            assert_eq!(parse_bool(t), Ok(true));
        }
        for f in ["no", "False", "disabled", "0"] {
            assert_eq!(parse_bool(f), Ok(false));
        }
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn marks() {
        assert_eq!(
            parse_mark("42"),
            Ok(Mark {
                value: MarkValue::Fixed(42),
                mask: u32::MAX
            })
        );
        assert_eq!(
            parse_mark("0x1234/0xff"),
            Ok(Mark {
                value: MarkValue::Fixed(0x34),
                mask: 0xff
            })
        );
        assert_eq!(parse_mark("%unique").unwrap().value, MarkValue::Unique);
        assert_eq!(parse_mark("%unique-dir/0xf0").unwrap().mask, 0xf0);
        assert!(parse_mark("x/1").is_err());
        assert!(parse_mark("1/y").is_err());
        assert!(!Mark::NONE.is_set());
    }

    #[test]
    fn lists() {
        assert_eq!(split_list(" a, b ,,c "), ["a", "b", "c"]);
        assert!(split_list(" , ").is_empty());
    }
}
