//! `fedbroker-cli credential-process`: the AWS SDKs' `credential_process` contract — print
//! `Version: 1` JSON with an `Expiration` — served from a per-role cache that is refreshed a few
//! minutes before expiry. A lock per role makes one process fetch while the others wait and then
//! read what it wrote, so ten parallel `aws` commands cause one STS call.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::broker::{self, Failure};
use crate::files;

/// Cached credentials are renewed when they have less than this left (seconds).
pub const RENEW_BEFORE_SECS: i64 = 300;

#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    role: String,
    expires_at: i64,
    credentials: Value,
}

/// Per broker and role (`login` empties the cache, so it never spans two people).
fn cache_name(broker: &str, role: &str) -> String {
    hex(&Sha256::digest(format!("{broker}\n{role}").as_bytes())[..12])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `credential_process` JSON for `role`, from the cache while fresh.
pub fn credential_process(role: &str, now: impl Fn() -> i64) -> Result<Value, Failure> {
    let Some(signed) = files::read_json::<files::SignIn>(&files::sign_in_path())? else {
        return Err(Failure::SignIn("not signed in".into()));
    };
    let name = cache_name(&signed.broker, role);
    let dir = files::cache_dir().join("credentials");
    let path = dir.join(format!("{name}.json"));
    let _lock = files::lock(&dir, &format!("{name}.lock"))?;
    if let Some(cached) = files::read_json::<Cached>(&path)? {
        if cached.role == role && cached.expires_at > now() + RENEW_BEFORE_SECS {
            return Ok(cached.credentials);
        }
    }
    let sign_in = broker::signed_in(now())?;
    let credentials = broker::api(
        &sign_in,
        reqwest::Method::POST,
        "/api/v1/credentials",
        Some(serde_json::json!({ "role": role })),
    )?;
    let expires_at = credentials["Expiration"]
        .as_str()
        .and_then(unix_seconds)
        .ok_or_else(|| Failure::Other("the broker's credentials carry no Expiration".into()))?;
    files::write_json(
        &path,
        &Cached {
            role: role.to_string(),
            expires_at,
            credentials: credentials.clone(),
        },
    )?;
    Ok(credentials)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (what the broker writes) as Unix seconds.
pub fn unix_seconds(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_become_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2026-12-02T07:34:15Z"), Some(1_796_196_855));
        assert_eq!(unix_seconds("2000-02-29T12:00:00Z"), Some(951_825_600));
        assert_eq!(unix_seconds("2026-12-02 07:34:15"), None);
        assert_eq!(unix_seconds("2026-13-02T07:34:15Z"), None);
    }
}
