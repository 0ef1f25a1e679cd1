//! [`AsyncClient`]: the async client, for tokio tasks.

use prices::Price;

use super::{
    Answer, Attempt, BodyError, ClientConfig, ClientError, Retrier, Tried, TryLog, parse_names,
    parse_price, price_path, retry_after, settle, transport_error,
};

/// The async client, for tokio programs: the same API as [`Client`](super::Client).
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), client::ClientError> {
/// let client = client::AsyncClient::new(client::ClientConfig::default())?;
/// let exchanges = client.exchanges().await?;
/// let price = client.check_price(&exchanges[0], "btc", "2020-04-01").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AsyncClient {
    http: reqwest::Client,
    base: String,
    config: ClientConfig,
    retrier: Retrier,
}

impl AsyncClient {
    /// A client for the server of `config`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUrl`] for a base URL that is not `http://HOST[:PORT]`.
    pub fn new(config: ClientConfig) -> Result<AsyncClient, ClientError> {
        let base = config.validated_base()?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|error| config.build_error(&error))?;
        let retrier = Retrier::new(config.retry.clone());
        Ok(AsyncClient {
            http,
            base,
            config,
            retrier,
        })
    }

    /// `GET /exchanges`.
    ///
    /// # Errors
    ///
    /// As [`Client::exchanges`](super::Client::exchanges)(super::Client::exchanges).
    pub async fn exchanges(&self) -> Result<Vec<String>, ClientError> {
        self.get_parsed("/exchanges", parse_names).await
    }

    /// `GET /symbols`.
    ///
    /// # Errors
    ///
    /// As [`Client::symbols`](super::Client::symbols).
    pub async fn symbols(&self) -> Result<Vec<String>, ClientError> {
        self.get_parsed("/symbols", parse_names).await
    }

    /// `GET /price/{exchange}/{symbol}/{date}`; `Ok(None)` for no price.
    ///
    /// # Errors
    ///
    /// As [`Client::check_price`](super::Client::check_price).
    pub async fn check_price(
        &self,
        exchange: &str,
        symbol: &str,
        date: &str,
    ) -> Result<Option<Price>, ClientError> {
        self.get_parsed(&price_path(exchange, symbol, date), parse_price)
            .await
    }

    /// [`check_price`](Self::check_price), with every try it took.
    pub async fn check_price_tried(
        &self,
        exchange: &str,
        symbol: &str,
        date: &str,
    ) -> Tried<Option<Price>> {
        let mut log = TryLog::new();
        let result = self
            .get_logged(
                &price_path(exchange, symbol, date),
                parse_price,
                Some(&mut log),
            )
            .await;
        log.into_tried(result)
    }

    async fn get_parsed<R>(
        &self,
        path: &str,
        parse: fn(&str) -> Result<R, BodyError>,
    ) -> Result<R, ClientError> {
        self.get_logged(path, parse, None).await
    }

    /// `GET path`, parsed, with retries; each try noted in `log` if given.
    async fn get_logged<R>(
        &self,
        path: &str,
        parse: fn(&str) -> Result<R, BodyError>,
        mut log: Option<&mut TryLog>,
    ) -> Result<R, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut retry = 0;
        loop {
            let began = std::time::Instant::now();
            let answer = async {
                let response = self.http.get(&url).send().await?;
                let (status, retry_after) =
                    (response.status().as_u16(), retry_after(response.headers()));
                let body = response.text().await?;
                Ok(Answer {
                    status,
                    retry_after,
                    body,
                })
            }
            .await
            .map_err(|error: reqwest::Error| {
                transport_error(&url, &error, self.config.request_timeout)
            });
            if let Some(log) = log.as_deref_mut() {
                log.tried(began, answer.as_ref().ok().map(|answer| answer.status));
            }
            retry += 1;
            match self.retrier.after(retry, settle(&url, answer, parse)) {
                Attempt::Done(result) => return result,
                Attempt::RetryAfter(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}
