//! Our float formatting against Python's own `repr`, value by value.
//!
//! `data/float_repr.txt.gz` was written by `data/make_float_table.py` with
//! CPython: 16,872 doubles (random bit patterns over every exponent,
//! price-like decimals, integral floats, both sides of the 1e-4 and 1e16
//! notation thresholds, subnormals) and the text `repr` gives for each.

use std::io::Read;

#[test]
fn every_float_prints_as_python_repr() {
    let mut text = String::new();
    flate2::read::GzDecoder::new(&include_bytes!("data/float_repr.txt.gz")[..])
        .read_to_string(&mut text)
        .unwrap();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for line in text.lines() {
        let (hex, expected) = line.split_once('\t').unwrap();
        let x = f64::from_bits(u64::from_str_radix(hex, 16).unwrap());
        let mut ours = String::new();
        prices::pyjson::write_float(&mut ours, x);
        if ours != expected {
            mismatches.push(format!("{hex}: python {expected}, ours {ours}"));
        }
        checked += 1;
    }
    assert_eq!(checked, 16_872);
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
