//! `fedbroker-cli login`: the authorization-code flow with PKCE on a loopback redirect.
//!
//! The browser goes to the broker's consent page; the broker sends it back to
//! `http://127.0.0.1:<random port>/callback` with a code, which only this process (holding the
//! PKCE verifier) can turn into tokens. `--no-browser` prints the address instead of opening a
//! browser and also accepts the code, or the whole address the browser ended on, pasted into the
//! terminal; `--remote` (a host whose loopback the browser cannot reach) has the broker show the
//! code on a page to paste.

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::broker::{self, Failure};

pub struct Options {
    pub broker: String,
    pub no_browser: bool,
    pub remote: bool,
    pub lifetime_secs: Option<i64>,
}

fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn device() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this computer".into())
}

/// Signs in and stores the tokens.
pub fn login(options: &Options, now: impl Fn() -> i64) -> Result<(), Failure> {
    let broker = options.broker.trim_end_matches('/').to_string();
    let verifier = random();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random();
    let listener = if options.remote {
        None
    } else {
        Some(TcpListener::bind("127.0.0.1:0").map_err(|e| {
            Failure::Other(format!("cannot listen on this machine's loopback: {e}"))
        })?)
    };
    let redirect_uri = match &listener {
        Some(l) => format!(
            "http://127.0.0.1:{}/callback",
            l.local_addr()
                .map_err(|e| Failure::Other(e.to_string()))?
                .port()
        ),
        None => format!("{broker}/oauth/code"),
    };
    let mut url = url::Url::parse(&format!("{broker}/oauth/authorize"))
        .map_err(|e| Failure::Other(format!("`{broker}` is not a broker address: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "fedbroker-cli")
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state)
        .append_pair("device", &device());
    if let Some(secs) = options.lifetime_secs {
        url.query_pairs_mut()
            .append_pair("lifetime", &secs.to_string());
    }
    let opened = !options.no_browser && !options.remote && open_browser(url.as_str());
    if opened {
        eprintln!("Opened your browser to sign in. If it did not open, visit:\n\n  {url}\n");
    } else {
        eprintln!("Open this address in a browser to sign in:\n\n  {url}\n");
        eprintln!("Then paste the code it shows (or the address the browser ends on) here:");
    }
    let code = wait_for_code(listener, &state, !opened)?;
    let tokens = broker::token(
        &broker,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "fedbroker-cli"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", &redirect_uri),
        ],
    )?;
    let saved = {
        let _lock = crate::files::lock(&crate::files::config_dir(), "sign-in.lock")?;
        // Credentials cached under an earlier sign-in (another person, another broker) must
        // not be handed out under this one.
        let _ = std::fs::remove_dir_all(crate::files::cache_dir().join("credentials"));
        broker::save(&broker, tokens, now())?
    };
    eprintln!(
        "Signed in to {broker} until {} (Unix time); credentials now refresh by themselves.",
        saved.refresh_expires_at
    );
    Ok(())
}

pub fn open_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The code from the loopback redirect or from the terminal, whichever comes first (10 minutes).
fn wait_for_code(
    listener: Option<TcpListener>,
    state: &str,
    read_terminal: bool,
) -> Result<String, Failure> {
    let (tx, rx) = mpsc::channel::<Result<String, Failure>>();
    if read_terminal {
        let tx = tx.clone();
        let state = state.to_string();
        std::thread::spawn(move || {
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_ok() && !line.trim().is_empty() {
                let _ = tx.send(code_from_paste(line.trim(), &state));
            }
        });
    }
    if let Some(listener) = listener {
        let state = state.to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(answer) = answer_callback(stream, &state) {
                    let _ = tx.send(answer);
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .unwrap_or_else(|_| {
            Err(Failure::Other(
                "no sign-in arrived within 10 minutes; run `fedbroker-cli login` again".into(),
            ))
        })
}

/// A pasted code, or the address the browser ended on (its state checked).
fn code_from_paste(text: &str, state: &str) -> Result<String, Failure> {
    match url::Url::parse(text) {
        Ok(url) => code_from_query(&url, state),
        Err(_) => Ok(text.to_string()),
    }
}

fn code_from_query(url: &url::Url, state: &str) -> Result<String, Failure> {
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if get("state").as_deref() != Some(state) {
        return Err(Failure::Other(
            "the answer does not belong to this sign-in (its state differs); run `fedbroker-cli login` again".into(),
        ));
    }
    if let Some(error) = get("error") {
        return Err(Failure::Other(if error == "access_denied" {
            "the sign-in was denied in the browser".into()
        } else {
            format!("the broker refused the sign-in: {error}")
        }));
    }
    get("code").ok_or_else(|| Failure::Other("the answer carries no code".into()))
}

/// Reads one request; answers the browser and returns the outcome for `/callback`, or `None`
/// for anything else (a favicon request), which gets a 404.
fn answer_callback(mut stream: TcpStream, state: &str) -> Option<Result<String, Failure>> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or("");
    let respond = |mut stream: &TcpStream, status: &str, text: &str| {
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>fedbroker-cli</title>\
             <body style=\"font-family:sans-serif;margin:3rem\"><p>{text}</p></body>"
        );
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    if !target.starts_with("/callback?") {
        respond(&stream, "404 Not Found", "Not here.");
        return None;
    }
    let url = url::Url::parse(&format!("http://127.0.0.1{target}")).ok()?;
    // Only an answer carrying this sign-in's state ends the wait: anything else on this
    // port (another program, a web page probing loopback) is refused and ignored.
    let state_matches = url.query_pairs().any(|(k, v)| k == "state" && v == state);
    if !state_matches {
        respond(
            &stream,
            "400 Bad Request",
            "This is not the answer this sign-in waits for.",
        );
        return None;
    }
    let outcome = code_from_query(&url, state);
    match &outcome {
        Ok(_) => respond(
            &stream,
            "200 OK",
            "Signed in. You can close this tab and go back to the terminal.",
        ),
        Err(e) => respond(
            &stream,
            "400 Bad Request",
            &format!("Not signed in: {}", escape_html(&e.to_string())),
        ),
    }
    Some(outcome)
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasted_answer_must_carry_this_sign_ins_state() {
        let ok = "http://127.0.0.1:5/callback?code=fbc_1&state=s1";
        assert_eq!(code_from_paste(ok, "s1").ok().as_deref(), Some("fbc_1"));
        assert!(code_from_paste(ok, "other").is_err());
        assert!(code_from_paste(
            "http://127.0.0.1:5/callback?error=access_denied&state=s1",
            "s1"
        )
        .is_err());
        assert_eq!(
            code_from_paste("fbc_2", "s1").ok().as_deref(),
            Some("fbc_2")
        );
    }
}
