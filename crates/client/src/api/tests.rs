use super::retry::{GIVE_UP_AFTER_SILENCES, classify};
use super::*;

#[test]
fn a_price_whose_day_is_not_a_day_is_a_body_error_that_says_so() {
    let body = r#"{"exchange": "kraken", "symbol": "btc", "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1, "day": "soon"}"#;
    let error = parse_price(body).unwrap_err();
    assert!(matches!(error, BodyError::Day(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        r#"date "soon" is not in YYYY-MM-DD form (for example 2020-04-01)"#
    );
}

#[test]
fn segments_are_percent_encoded() {
    assert_eq!(
        price_path("coinbase-pro", "btc", "2020-04-01"),
        "/price/coinbase-pro/btc/2020-04-01"
    );
    assert_eq!(price_path("a/b", "c d", "é"), "/price/a%2Fb/c%20d/%C3%A9");
}

#[test]
fn base_urls_are_checked() {
    assert!(
        ClientConfig::new("http://127.0.0.1:8080/")
            .validated_base()
            .is_ok()
    );
    assert!(
        ClientConfig::new("127.0.0.1:8080")
            .validated_base()
            .is_err()
    );
    let https = ClientConfig::new("https://example.com")
        .validated_base()
        .unwrap_err();
    assert!(
        https
            .to_string()
            .contains("HTTPS is not built into this client"),
        "{https}"
    );
    assert!(
        ClientConfig::new("http://host/path")
            .validated_base()
            .is_err()
    );
}

#[test]
fn backoff_doubles_and_respects_its_ceiling() {
    let policy = RetryPolicy {
        retries: 10,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    };
    let error = ClientError::Timeout {
        url: "u".into(),
        timeout: Duration::from_secs(1),
    };
    for retry in 1..=10 {
        let ceiling = Duration::from_millis(100 * (1 << (retry - 1))).min(Duration::from_secs(1));
        assert!(policy.delay(retry, &error).unwrap() <= ceiling);
    }
    assert_eq!(policy.delay(11, &error), None);
}

#[test]
fn retry_after_is_a_lower_bound_never_a_replacement() {
    let policy = RetryPolicy {
        retries: 10,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    };
    let limited = |seconds| ClientError::Status {
        url: "u".into(),
        status: 429,
        message: "slow down".into(),
        retry_after: Some(Duration::from_secs(seconds)),
    };
    // Longer than the backoff: exactly what the server asked.
    assert_eq!(policy.delay(1, &limited(2)), Some(Duration::from_secs(2)));
    // Absurdly long: capped.
    assert_eq!(
        policy.delay(1, &limited(3600)),
        Some(RetryPolicy::MAX_RETRY_AFTER)
    );
    // `Retry-After: 0` keeps the jitter: waits differ from try to try,
    // so clients in lockstep fall out of it.
    let waits: std::collections::BTreeSet<Duration> = (0..20)
        .map(|_| policy.delay(3, &limited(0)).unwrap())
        .collect();
    assert!(waits.len() > 1, "{waits:?}");
    assert!(waits.iter().all(|wait| *wait <= Duration::from_millis(400)));
}

#[test]
fn a_silent_server_is_given_up_on_and_one_answer_forgives_it() {
    let retrier = Retrier::new(RetryPolicy {
        retries: 1000,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    });
    let refused = || {
        Err::<(), _>(ClientError::Unreachable {
            url: "u".into(),
            reason: "Connection refused".into(),
        })
    };
    let busy = || {
        Err::<(), _>(ClientError::Status {
            url: "u".into(),
            status: 503,
            message: "busy".into(),
            retry_after: None,
        })
    };
    let clone = retrier.clone(); // another worker of the same job
    for attempt in 1..GIVE_UP_AFTER_SILENCES as u32 {
        let by = if attempt % 2 == 0 { &retrier } else { &clone };
        assert!(matches!(
            by.after(attempt, refused()),
            Attempt::RetryAfter(_)
        ));
    }
    // The 32nd silence in a row, whoever met it: no more retries.
    assert!(matches!(
        retrier.after(1, refused()),
        Attempt::Done(Err(ClientError::Unreachable { .. }))
    ));
    // An answer, even an error, means the server is there again.
    assert!(matches!(clone.after(1, busy()), Attempt::RetryAfter(_)));
    assert!(matches!(
        retrier.after(1, refused()),
        Attempt::RetryAfter(_)
    ));
    assert!(matches!(retrier.after(1, Ok(())), Attempt::Done(Ok(()))));
}

#[test]
fn what_is_retried() {
    let status = |status| ClientError::Status {
        url: "u".into(),
        status,
        message: String::new(),
        retry_after: None,
    };
    assert!(status(500).is_retryable() && status(503).is_retryable() && status(429).is_retryable());
    assert!(!status(400).is_retryable() && !status(404).is_retryable());
    assert!(
        ClientError::Unreachable {
            url: "u".into(),
            reason: "refused".into()
        }
        .is_retryable()
    );
    assert!(
        !ClientError::Decode {
            url: "u".into(),
            reason: BodyError::Json("bad".into())
        }
        .is_retryable()
    );
}

#[test]
fn bodies_that_are_not_prices() {
    assert!(parse_price("[1, 2]").is_err());
    assert!(parse_price(r#"{"exchange": "k"}"#).is_err());
    assert!(parse_price("").is_err());
    assert!(parse_price(r#"{"exchange": "k", "symbol": "b", "open": 1e400, "high": null, "low": null, "close": null, "volume": null, "day": "d"}"#).is_err());
}

#[test]
fn error_bodies_give_the_servers_message() {
    let error = classify(
        "u",
        Answer {
            status: 400,
            retry_after: None,
            body: r#"{"error": "date \"x\" is not in YYYY-MM-DD form"}"#.into(),
        },
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"u: HTTP 400: date "x" is not in YYYY-MM-DD form"#
    );
}

#[test]
fn a_price_keeps_each_numbers_integer_or_real_form() {
    let price = parse_price(
        r#"{"exchange": "kraken", "symbol": "btc", "open": 600, "high": 600.0, "low": 8.6e-05, "close": 1, "volume": null, "day": "2020-01-01"}"#,
    )
    .unwrap()
    .unwrap();
    assert_eq!(price.open, Some(prices::Number::Integer(600)));
    assert_eq!(price.high, Some(prices::Number::Real(600.0)));
    assert_eq!(parse_price("null").unwrap(), None);
}
