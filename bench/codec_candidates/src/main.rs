//! Encode + decode time of each candidate codec on the shapes that cross
//! the process pool, interleaved: each round times every codec once on
//! every shape, and the figure is the median over the rounds, with its
//! range. Also which candidates give back exactly what was sent.

use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
enum Number {
    Integer(i64),
    Real(f64),
}

/// The fetch's `Price`, as it crosses in a binary format.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Price {
    exchange: String,
    symbol: String,
    open: Option<Number>,
    high: Option<Number>,
    low: Option<Number>,
    close: Option<Number>,
    volume: Option<Number>,
    day: String,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
enum Tree {
    Leaf(u32),
    Node(Vec<Tree>),
    Named { name: String, value: Option<Box<Tree>> },
}

fn tree(depth: u32) -> Tree {
    if depth == 0 {
        return Tree::Leaf(7);
    }
    Tree::Node(vec![
        tree(depth - 1),
        Tree::Named {
            name: "x".into(),
            value: Some(Box::new(Tree::Leaf(depth))),
        },
        tree(depth - 1),
    ])
}

type Encode<T> = fn(&T) -> Vec<u8>;
type Decode<T> = fn(&[u8]) -> Option<T>;

fn codecs<T: Serialize + DeserializeOwned>() -> Vec<(&'static str, Encode<T>, Decode<T>)> {
    vec![
        ("json", |v| serde_json::to_vec(v).unwrap(), |b| serde_json::from_slice(b).ok()),
        ("postcard", |v| postcard::to_stdvec(v).unwrap(), |b| postcard::from_bytes(b).ok()),
        (
            "bincode 2",
            |v| bincode::serde::encode_to_vec(v, bincode::config::standard()).unwrap(),
            |b| bincode::serde::decode_from_slice(b, bincode::config::standard()).ok().map(|(v, _)| v),
        ),
        ("bitcode", |v| bitcode::serialize(v).unwrap(), |b| bitcode::deserialize(b).ok()),
        ("msgpack", |v| rmp_serde::to_vec(v).unwrap(), |b| rmp_serde::from_slice(b).ok()),
    ]
}

fn median_and_range(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    (values[values.len() / 2], values[0], values[values.len() - 1])
}

fn shape<T: Serialize + DeserializeOwned + PartialEq>(label: &str, value: &T, rounds: usize) {
    let codecs = codecs::<T>();
    let mut times = vec![Vec::new(); codecs.len()];
    for _ in 0..rounds {
        for (i, (_, encode, decode)) in codecs.iter().enumerate() {
            let repeats = 50;
            let started = Instant::now();
            for _ in 0..repeats {
                let bytes = encode(value);
                std::hint::black_box(decode(&bytes));
            }
            times[i].push(started.elapsed().as_nanos() as f64 / repeats as f64);
        }
    }
    println!("{label}");
    for ((name, encode, decode), times) in codecs.iter().zip(times) {
        let bytes = encode(value);
        let exact = decode(&bytes).is_some_and(|back| back == *value);
        let (median, low, high) = median_and_range(times);
        println!(
            "  {name:10} {:>10.1} us ({:.1}-{:.1})  {:>9} bytes  {}",
            median / 1000.0,
            low / 1000.0,
            high / 1000.0,
            bytes.len(),
            if exact { "exact" } else { "NOT EXACT" }
        );
    }
}

fn main() {
    let rounds = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(11);
    let price = Price {
        exchange: "bitstamp".into(),
        symbol: "btc".into(),
        open: Some(Number::Real(6408.95)),
        high: Some(Number::Real(6527.24)),
        low: Some(Number::Integer(6337)),
        close: Some(Number::Real(6421.14)),
        volume: None,
        day: "2020-04-01".into(),
    };
    shape("one Price", &price, rounds);
    shape("100 Prices", &vec![price.clone(); 100], rounds);
    let floats: Vec<f64> = (0..10_000).map(|i| (i as f64).sqrt() * 1.1e7).collect();
    shape("10,000 f64", &floats, rounds);
    let strings: Vec<String> = (0..1000).map(|i| format!("string number {i} with some text")).collect();
    shape("1,000 strings", &strings, rounds);
    shape("a nested enum (3,280 nodes)", &tree(7), rounds);
    let some_none: Vec<Option<Option<()>>> = vec![None, Some(None), Some(Some(()))];
    shape("None, Some(None), Some(Some(()))", &some_none, rounds);
}
