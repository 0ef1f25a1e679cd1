//! [`Client`]: the blocking client, for threads and worker processes.

use prices::{Day, Price};

use super::{
    Answer, Attempt, BodyError, ClientConfig, ClientError, RANGE_PAGE, Retrier, Tried, TryLog,
    parse_names, parse_price, parse_prices, price_path, range_path, retry_after, settle,
    transport_error,
};

/// The blocking client: one per program is enough (it pools connections,
/// and is cheap to clone and share between threads).
///
/// Do not use it inside an async runtime; use [`AsyncClient`](super::AsyncClient) there.
///
/// # Examples
///
/// ```no_run
/// let client = client::Client::new(client::ClientConfig::new("http://127.0.0.1:8080"))?;
/// match client.check_price("bitstamp", "btc", "2020-04-01")? {
///     Some(price) => println!("close: {}", price.close.unwrap()),
///     None => println!("no price that day"),
/// }
/// # Ok::<(), client::ClientError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    config: ClientConfig,
    retrier: Retrier,
}

impl Client {
    /// A client for the server of `config`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUrl`] for a base URL that is not `http://HOST[:PORT]`.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let base = config.validated_base()?;
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|error| config.build_error(&error))?;
        let retrier = Retrier::new(config.retry.clone());
        Ok(Client {
            http,
            base,
            config,
            retrier,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// `GET /exchanges`.
    ///
    /// # Errors
    ///
    /// [`ClientError`], after retries where they apply.
    pub fn exchanges(&self) -> Result<Vec<String>, ClientError> {
        self.get_parsed("/exchanges", parse_names)
    }

    /// `GET /symbols`.
    ///
    /// # Errors
    ///
    /// [`ClientError`], after retries where they apply.
    pub fn symbols(&self) -> Result<Vec<String>, ClientError> {
        self.get_parsed("/symbols", parse_names)
    }

    /// `GET /price/{exchange}/{symbol}/{date}`: `Ok(None)` is "no price
    /// that day", which is not an error.
    ///
    /// # Errors
    ///
    /// [`ClientError`], after retries where they apply; a malformed date is
    /// [`ClientError::Status`] 400 with the server's explanation.
    pub fn check_price(
        &self,
        exchange: &str,
        symbol: &str,
        date: &str,
    ) -> Result<Option<Price>, ClientError> {
        self.get_parsed(&price_path(exchange, symbol, date), parse_price)
    }

    /// [`check_price`](Self::check_price), with every try it took (for a
    /// timeline: when each started and ended, what came back).
    pub fn check_price_tried(
        &self,
        exchange: &str,
        symbol: &str,
        date: &str,
    ) -> Tried<Option<Price>> {
        let mut log = TryLog::new();
        let result = self.get_logged(
            &price_path(exchange, symbol, date),
            parse_price,
            Some(&mut log),
        );
        log.into_tried(result)
    }

    /// `GET /prices/{exchange}/{symbol}` from `first` to `last`, page after
    /// page: every row in that range, in day order (days without a row are
    /// simply absent). Each page is one request, with retries.
    ///
    /// # Errors
    ///
    /// [`ClientError`] of the first page that failed after its retries.
    pub fn prices_range(
        &self,
        exchange: &str,
        symbol: &str,
        first: Day,
        last: Day,
    ) -> Result<Vec<Price>, ClientError> {
        let mut prices = Vec::new();
        let mut from = first;
        loop {
            let page = self.get_parsed(&range_path(exchange, symbol, from, last), parse_prices)?;
            let full = page.len() == RANGE_PAGE;
            let next = page.last().map(|price| price.day.next());
            prices.extend(page);
            match next {
                Some(next) if full && next <= last => from = next,
                _ => return Ok(prices),
            }
        }
    }

    fn get_parsed<R>(
        &self,
        path: &str,
        parse: fn(&str) -> Result<R, BodyError>,
    ) -> Result<R, ClientError> {
        self.get_logged(path, parse, None)
    }

    /// `GET path`, parsed, with retries; each try noted in `log` if given.
    fn get_logged<R>(
        &self,
        path: &str,
        parse: fn(&str) -> Result<R, BodyError>,
        mut log: Option<&mut TryLog>,
    ) -> Result<R, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut retry = 0;
        loop {
            let began = std::time::Instant::now();
            let answer = self
                .http
                .get(&url)
                .send()
                .and_then(|response| {
                    let (status, retry_after) =
                        (response.status().as_u16(), retry_after(response.headers()));
                    response.text().map(|body| Answer {
                        status,
                        retry_after,
                        body,
                    })
                })
                .map_err(|error| transport_error(&url, &error, self.config.request_timeout));
            if let Some(log) = log.as_deref_mut() {
                log.tried(began, answer.as_ref().ok().map(|answer| answer.status));
            }
            retry += 1;
            match self.retrier.after(retry, settle(&url, answer, parse)) {
                Attempt::Done(result) => return result,
                Attempt::RetryAfter(wait) => std::thread::sleep(wait),
            }
        }
    }
}
