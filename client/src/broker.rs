//! The broker's HTTP endpoints the client calls, and errors a person can act on.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::files::{self, SignIn};

/// Exit code when the person must run `fedbroker-cli login` (again).
pub const EXIT_SIGN_IN: u8 = 2;

/// What went wrong, worded for the person at the terminal.
#[derive(Debug)]
pub enum Failure {
    /// No sign-in, or the broker ended it: run `login`.
    SignIn(String),
    /// Anything else: the broker unreachable, a role not granted, STS refused…
    Other(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::SignIn(_) => EXIT_SIGN_IN,
            Failure::Other(_) => 1,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::SignIn(why) => write!(f, "{why}; run `fedbroker-cli login`"),
            Failure::Other(why) => f.write_str(why),
        }
    }
}

impl From<String> for Failure {
    fn from(why: String) -> Self {
        Failure::Other(why)
    }
}

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("fedbroker-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client with default settings builds")
}

fn unreachable(broker: &str, e: reqwest::Error) -> Failure {
    Failure::Other(format!(
        "the broker at {broker} cannot be reached ({e}); check the address and your network"
    ))
}

/// What `/oauth/token` answers.
#[derive(Debug, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_at: i64,
}

/// `POST /oauth/token`; an `invalid_grant` means the sign-in is over.
pub fn token(broker: &str, form: &[(&str, &str)]) -> Result<Tokens, Failure> {
    let res = http()
        .post(format!("{broker}/oauth/token"))
        .form(form)
        .send()
        .map_err(|e| unreachable(broker, e))?;
    let status = res.status();
    let body: Value = res.json().unwrap_or(Value::Null);
    if status.is_success() {
        return serde_json::from_value(body)
            .map_err(|e| Failure::Other(format!("the broker's answer is not understood: {e}")));
    }
    let why = body["error_description"]
        .as_str()
        .unwrap_or("the broker refused the sign-in")
        .trim_end_matches("; sign in again with `fedbroker-cli login`")
        .to_string();
    if body["error"] == "invalid_grant" {
        Err(Failure::SignIn(why))
    } else {
        Err(Failure::Other(format!(
            "the broker answered {status}: {why}"
        )))
    }
}

/// Stores tokens as the sign-in to `broker`.
pub fn save(broker: &str, tokens: Tokens, now: i64) -> Result<SignIn, Failure> {
    let sign_in = SignIn {
        broker: broker.to_string(),
        refresh_token: tokens.refresh_token,
        refresh_expires_at: tokens.refresh_expires_at,
        access_token: tokens.access_token,
        access_expires_at: now + tokens.expires_in,
    };
    files::write_json(&files::sign_in_path(), &sign_in)?;
    Ok(sign_in)
}

/// The sign-in with an access token good for another minute, refreshed (under the lock) when
/// needed.
pub fn signed_in(now: i64) -> Result<SignIn, Failure> {
    let _lock = files::lock(&files::config_dir(), "sign-in.lock")?;
    let Some(sign_in) = files::read_json::<SignIn>(&files::sign_in_path())? else {
        return Err(Failure::SignIn("not signed in".into()));
    };
    if sign_in.access_expires_at > now + 60 {
        return Ok(sign_in);
    }
    if sign_in.refresh_expires_at <= now {
        return Err(Failure::SignIn(
            "the sign-in has reached the end of its lifetime".into(),
        ));
    }
    let tokens = token(
        &sign_in.broker,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "fedbroker-cli"),
            ("refresh_token", &sign_in.refresh_token),
        ],
    )?;
    save(&sign_in.broker, tokens, now)
}

/// Calls the JSON API with the access token; the broker's message on failure.
pub fn api(
    sign_in: &SignIn,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, Failure> {
    let mut req = http()
        .request(method, format!("{}{path}", sign_in.broker))
        .bearer_auth(&sign_in.access_token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().map_err(|e| unreachable(&sign_in.broker, e))?;
    let status = res.status();
    let body: Value = res.json().unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let message = body["message"]
        .as_str()
        .unwrap_or("no reason given")
        .to_string();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(Failure::SignIn(format!(
            "the broker no longer accepts this sign-in ({message})"
        )));
    }
    Err(Failure::Other(format!(
        "the broker refused ({status}): {message}"
    )))
}
