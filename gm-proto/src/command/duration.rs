/// Longest duration accepted: 10 years, in seconds.
pub const MAX_DURATION_SECS: u64 = 10 * 365 * 86_400;

/// Parses `90s`, `30m`, `12h`, `7d`, `2w`, or a sum such as `1h30m`, into seconds. A bare number
/// is refused: `/ban Bob 7` is ambiguous.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a duration; write it like 30m, 12h, 7d or 1h30m");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        if digits.is_empty() {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| too_long(s))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| too_long(s))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    if total == 0 {
        return Err(format!("{s:?} is zero; give a positive duration"));
    }
    if total > MAX_DURATION_SECS {
        return Err(too_long(s));
    }
    Ok(total)
}

fn too_long(s: &str) -> String {
    format!("{s:?} is longer than the 10-year maximum")
}

/// Seconds as the largest units that fit, like `1d2h` or `45s`.
pub fn format_duration(mut secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_through_their_short_form() {
        for secs in [1, 59, 60, 3_600, 5_400, 86_400, 604_800, 694_861] {
            assert_eq!(parse_duration(&format_duration(secs)), Ok(secs));
        }
        assert_eq!(format_duration(5_400), "1h30m");
    }
}
