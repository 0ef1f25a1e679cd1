//! JSON exactly as Python's `json.dumps` writes it with default arguments.
//!
//! The original server builds every body with `json.dumps(value)`, and our
//! promise is byte-identical answers, so "valid JSON" is not enough: the
//! separators (`", "` and `": "`), the ASCII escaping of strings and, above
//! all, the way floats are printed must match Python to the byte.
//!
//! Python prints a float with `repr`: the *shortest* digit string that reads
//! back to the same double, laid out in fixed notation when
//! `1e-4 <= |x| < 1e16` and in exponent notation otherwise, with a signed,
//! at-least-two-digit exponent (`8.6e-05`, `1e+16`). The `ryu` crate finds
//! the shortest round-trip digits (fast, and exact); this module picks
//! between two shortest candidates as Python does and lays the digits out
//! the way Python does.

use std::fmt::Write as _;

/// Appends `x` as Python's `repr(float)` (and so `json.dumps`) prints it.
///
/// Non-finite values are written as `json.dumps` writes them (`NaN`,
/// `Infinity`, `-Infinity`), which is not strict JSON but is what Python
/// clients expect.
///
/// # Examples
///
/// ```
/// let mut out = String::new();
/// prices::pyjson::write_float(&mut out, 600.0);
/// out.push(' ');
/// prices::pyjson::write_float(&mut out, 8.6e-05);
/// out.push(' ');
/// prices::pyjson::write_float(&mut out, 1e16);
/// assert_eq!(out, "600.0 8.6e-05 1e+16");
/// ```
pub fn write_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    if x == 0.0 {
        out.push_str("0.0");
        return;
    }

    let mut digit_buf = [0u8; 24];
    let (len, exponent) = shortest_digits(x.abs(), &mut digit_buf);
    prefer_the_nearest_of_two_shortest(x.abs(), &mut digit_buf[..len], exponent);
    let digits = std::str::from_utf8(&digit_buf[..len]).expect("ASCII digits");

    // Python's rule (Objects/floatobject.c, `float_repr_style == "short"`):
    // with the decimal point after `point` digits, use exponent notation
    // when point <= -4 or point > 16.
    let point = exponent + 1;
    if point > -4 && point <= 16 {
        write_fixed(out, digits, point);
    } else {
        write_exponent(out, digits, exponent);
    }
}

/// The shortest digits that read back as `x` (finite, positive), without
/// leading or trailing zeros, and the decimal exponent of the first digit
/// (`6408.95` -> `640895`, 3). Ryu finds them; its layout (`6408.95`,
/// `1e16`, `1.5e-7`) is then normalised, whatever it is.
fn shortest_digits(x: f64, digits: &mut [u8; 24]) -> (usize, i32) {
    let mut ryu_buffer = ryu::Buffer::new();
    let text = ryu_buffer.format_finite(x);
    let (mantissa, exponent) = match text.split_once('e') {
        Some((mantissa, exponent)) => (
            mantissa,
            exponent.parse().expect("Ryu writes a decimal exponent"),
        ),
        None => (text, 0),
    };
    let mut len = 0;
    // Digits before the decimal point, less the leading zeros skipped.
    let mut integer_digits: i32 = 0;
    let mut seen_point = false;
    for byte in mantissa.bytes() {
        match byte {
            b'.' => seen_point = true,
            // A leading zero: "0.0001" is 1 with the point 3 places left.
            b'0' if len == 0 => {
                if seen_point {
                    integer_digits -= 1;
                }
            }
            digit => {
                digits[len] = digit;
                len += 1;
                if !seen_point {
                    integer_digits += 1;
                }
            }
        }
    }
    while len > 1 && digits[len - 1] == b'0' {
        len -= 1;
    }
    (len, integer_digits - 1 + exponent)
}

/// Sometimes two digit strings of the same, shortest length both read back
/// as `x`: for 1039943784368880.25 both `...880.2` and `...880.3` do. Python
/// (David Gay's dtoa) then prints the one nearer to `x`'s exact value, and on
/// an exact tie the one ending in an even digit; Rust's `{:e}` may pick the
/// other. So when the string one unit lower in the last place also
/// round-trips, decide by comparing `x` exactly with the midpoint of the two.
fn prefer_the_nearest_of_two_shortest(x: f64, digits: &mut [u8], exponent: i32) {
    // Two n-digit strings are 10^-n apart relative to x, while the doubles
    // that read back as x span about 2^-52 (2.2e-16) of it: only with 16 or
    // 17 digits can both fit. Prices have fewer, so this is almost free.
    if digits.len() < 16 {
        return;
    }
    let last = digits.len() - 1;
    if digits[last] == b'0' {
        return; // The lower string would be shorter: not a rival.
    }
    let mut lower = StackString::default();
    digits[last] -= 1;
    let lower_ok = write_scientific(&mut lower, digits, exponent).is_ok()
        && lower.as_str().parse::<f64>() == Ok(x);
    digits[last] += 1;
    if !lower_ok {
        return;
    }
    // The midpoint of the two strings is the lower one followed by a 5:
    // K x 10^j with K = lower * 10 + 5 (at most 18 digits: fits a u64).
    let lower_value = digits[..last]
        .iter()
        .chain(&[digits[last] - 1])
        .fold(0u64, |value, digit| value * 10 + u64::from(digit - b'0'));
    let midpoint = lower_value * 10 + 5;
    let midpoint_exponent = exponent - digits.len() as i32;
    let order = compare_exactly(x, midpoint, midpoint_exponent)
        .unwrap_or_else(|| compare_by_expansion(x, digits, exponent));
    let use_lower = match order {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Equal => (digits[last] - 1 - b'0').is_multiple_of(2),
        std::cmp::Ordering::Greater => false,
    };
    if use_lower {
        digits[last] -= 1;
    }
}

/// Compares `x` with `k x 10^j` exactly, in 128-bit integers, when the
/// numbers fit (they do for every magnitude a price can have).
///
/// With `x = m x 2^q`, and `10^j = 5^j x 2^j`, the powers of two are moved
/// to one side: compare `m x 2^(q-j)` with `k x 5^j` (negative powers move
/// to the other side).
fn compare_exactly(x: f64, k: u64, j: i32) -> Option<std::cmp::Ordering> {
    let bits = x.to_bits();
    let biased_exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (m, q) = if biased_exponent == 0 {
        (fraction, -1074) // subnormal
    } else {
        (fraction | (1 << 52), biased_exponent - 1075)
    };
    let (mut left, mut right) = (u128::from(m), u128::from(k));
    let five_to = |power: i32| 5u128.checked_pow(power.unsigned_abs());
    if j >= 0 {
        right = right.checked_mul(five_to(j)?)?;
    } else {
        left = left.checked_mul(five_to(j)?)?;
    }
    let shift = q - j;
    let shift_left = |value: u128, by: u32| (value.leading_zeros() >= by).then(|| value << by);
    if shift >= 0 {
        left = shift_left(left, shift.unsigned_abs())?;
    } else {
        right = shift_left(right, shift.unsigned_abs())?;
    }
    Some(left.cmp(&right))
}

/// The fallback of [`compare_exactly`] for extreme magnitudes: `x`'s exact
/// decimal expansion (a double has at most 767 significant digits) against
/// the midpoint's digits.
fn compare_by_expansion(x: f64, digits: &[u8], exponent: i32) -> std::cmp::Ordering {
    let exact = format!("{x:.767e}");
    let (exact_mantissa, exact_exponent) = exact.split_once('e').expect("`{:e}` has an exponent");
    debug_assert_eq!(exact_exponent.parse::<i32>().ok(), Some(exponent));
    let exact_digits = exact_mantissa.bytes().filter(u8::is_ascii_digit);
    let last = digits.len() - 1;
    let midpoint = digits[..last]
        .iter()
        .copied()
        .chain([digits[last] - 1, b'5'])
        .chain(std::iter::repeat(b'0'));
    exact_digits.cmp(midpoint.take(768))
}

fn write_scientific(out: &mut StackString, digits: &[u8], exponent: i32) -> std::fmt::Result {
    out.write_str(std::str::from_utf8(&digits[..1]).map_err(|_| std::fmt::Error)?)?;
    out.write_str(".")?;
    out.write_str(std::str::from_utf8(&digits[1..]).map_err(|_| std::fmt::Error)?)?;
    write!(out, "0e{exponent}")
}

fn write_fixed(out: &mut String, digits: &str, point: i32) {
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let point = point as usize;
        if point >= digits.len() {
            out.push_str(digits);
            for _ in digits.len()..point {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
}

fn write_exponent(out: &mut String, digits: &str, exponent: i32) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('e');
    out.push(if exponent < 0 { '-' } else { '+' });
    let magnitude = exponent.unsigned_abs();
    if magnitude < 10 {
        out.push('0');
    }
    write!(out, "{magnitude}").expect("writing to a String cannot fail");
}

/// Appends an integer as Python prints it (plain decimal).
///
/// # Examples
///
/// ```
/// let mut out = String::new();
/// prices::pyjson::write_int(&mut out, -600);
/// assert_eq!(out, "-600");
/// ```
pub fn write_int(out: &mut String, n: i64) {
    write!(out, "{n}").expect("writing to a String cannot fail");
}

/// Appends `s` as a JSON string the way `json.dumps` does with its default
/// `ensure_ascii=True`: every non-ASCII character becomes `\uXXXX` (two of
/// them, a surrogate pair, beyond the Basic Multilingual Plane).
///
/// # Examples
///
/// ```
/// let mut out = String::new();
/// prices::pyjson::write_str(&mut out, "caf\u{e9} \"1\"\n");
/// assert_eq!(out, r#""caf\u00e9 \"1\"\n""#);
/// ```
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    // The common case (every name and day we serve): nothing to escape.
    if s.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='\u{7f}' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(out, "\\u{unit:04x}").expect("writing to a String cannot fail");
                }
            }
        }
    }
    out.push('"');
}

/// Appends a list of strings as `json.dumps(list_of_str)` does:
/// `["a", "b"]`, or `[]` when empty.
///
/// # Examples
///
/// ```
/// let mut out = String::new();
/// prices::pyjson::write_str_list(&mut out, ["btc", "eth"]);
/// assert_eq!(out, r#"["btc", "eth"]"#);
/// ```
pub fn write_str_list<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_str(out, item);
    }
    out.push(']');
}

/// A fixed-capacity buffer for one `{:e}` rendering, so that printing a
/// float on the request path allocates nothing.
#[derive(Default)]
struct StackString {
    buf: [u8; 32],
    len: usize,
}

impl StackString {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("only UTF-8 is ever written")
    }
}

impl std::fmt::Write for StackString {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn float(x: f64) -> String {
        let mut out = String::new();
        write_float(&mut out, x);
        out
    }

    #[test]
    fn floats_from_the_spec() {
        assert_eq!(float(6408.95), "6408.95");
        assert_eq!(float(95000.17599999999), "95000.17599999999");
        assert_eq!(float(600.0), "600.0");
        assert_eq!(float(8.6e-05), "8.6e-05");
        assert_eq!(float(1e-08), "1e-08");
        assert_eq!(float(1e16), "1e+16");
    }

    #[test]
    fn floats_at_the_notation_boundaries() {
        assert_eq!(float(1e-4), "0.0001");
        assert_eq!(float(9.999e-5), "9.999e-05");
        assert_eq!(float(1e15), "1000000000000000.0");
        assert_eq!(float(9999999999999998.0), "9999999999999998.0");
        assert_eq!(float(1.5e16), "1.5e+16");
        assert_eq!(float(0.5), "0.5");
        assert_eq!(float(123.0), "123.0");
    }

    #[test]
    #[allow(clippy::excessive_precision)] // The exact binary values are the point.
    fn of_two_shortest_strings_the_nearer_one_or_the_even_one() {
        // Exactly 1039943784368880.25: both ...880.2 and ...880.3 round-trip;
        // a tie, so Python prints the even digit.
        assert_eq!(float(1039943784368880.25), "1039943784368880.2");
        assert_eq!(float(87925155710509.625), "87925155710509.62");
        assert_eq!(float(0.3), "0.3");
    }

    #[test]
    fn floats_at_the_edges_of_the_double_range() {
        assert_eq!(float(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(float(f64::MIN_POSITIVE), "2.2250738585072014e-308");
        assert_eq!(float(5e-324), "5e-324");
        assert_eq!(float(1e100), "1e+100");
        assert_eq!(float(-0.0), "-0.0");
        assert_eq!(float(0.0), "0.0");
        assert_eq!(float(-2.5e-7), "-2.5e-07");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "Infinity");
        assert_eq!(float(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn strings_escape_like_ensure_ascii() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\u{1}\u{7f}\u{1F600}\t");
        // DEL (0x7f) is ASCII, so Python leaves it as it is.
        assert_eq!(out, "\"a\\\"b\\\\c\\u0001\u{7f}\\ud83d\\ude00\\t\"");
    }

    #[test]
    fn empty_list() {
        let mut out = String::new();
        write_str_list(&mut out, []);
        assert_eq!(out, "[]");
    }

    proptest! {
        /// Whatever the double, the text reads back to exactly that double:
        /// nothing is lost between the database and the client.
        #[test]
        fn every_finite_float_round_trips(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assume!(x.is_finite());
            let text = float(x);
            let back: f64 = text.parse().unwrap();
            prop_assert_eq!(back.to_bits(), x.to_bits(), "{} printed as {}", x, text);
        }

        /// The notation follows Python's threshold, and the text always
        /// looks like a float (never like an integer).
        #[test]
        fn notation_follows_pythons_threshold(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assume!(x.is_finite() && x != 0.0);
            let text = float(x);
            let exponent_form = text.contains('e');
            prop_assert_eq!(exponent_form, !(1e-4..1e16).contains(&x.abs()), "{}", text);
            prop_assert!(text.contains('.') || exponent_form);
            if let Some((_, exp)) = text.split_once('e') {
                prop_assert!(exp.starts_with('+') || exp.starts_with('-'));
                prop_assert!(exp.len() >= 3);
            }
        }

        /// The fast integer comparison with a midpoint agrees with the slow,
        /// obviously exact one wherever it answers.
        #[test]
        fn integer_midpoint_comparison_matches_the_expansion(
            fraction in 0u64..(1 << 52),
            biased_exponent in 950u64..1150, // about 1e-22 to 1e38: where the fast path answers
            nudge in 0u64..3,
        ) {
            let x = f64::from_bits((biased_exponent << 52) | fraction);
            let mut digits = [0u8; 24];
            let (len, exponent) = shortest_digits(x, &mut digits);
            let digits = &mut digits[..len];
            prop_assume!(digits[len - 1] > b'0');
            // Compare with the midpoint below the digits, nudged up or down
            // by one unit of its last place to try both sides of equality.
            let lower = digits[..len - 1].iter().chain(&[digits[len - 1] - 1])
                .fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
            let midpoint = lower * 10 + 5 + nudge - 1;
            if let Some(fast) = compare_exactly(x, midpoint, exponent - len as i32) {
                let exact = format!("{x:.767e}");
                let exact_digits: Vec<u8> = exact.split_once('e').unwrap().0.bytes().filter(u8::is_ascii_digit).collect();
                let mut wanted: Vec<u8> = midpoint.to_string().into_bytes();
                // Align: the midpoint has len + 1 digits starting at 10^exponent.
                prop_assume!(wanted.len() == len + 1);
                wanted.resize(768, b'0');
                prop_assert_eq!(fast, exact_digits.cmp(&wanted));
            }
        }

        /// Fixed notation never has a trailing zero except the one of `.0`.
        #[test]
        fn fixed_notation_is_shortest(x in 1e-4f64..1e16) {
            let text = float(x);
            let fraction = text.split_once('.').unwrap().1;
            prop_assert!(fraction == "0" || !fraction.ends_with('0'), "{}", text);
        }
    }
}
