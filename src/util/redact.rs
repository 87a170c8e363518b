//! The one place secrets are taken out of text. Every error message (`Error`'s `Display`), every
//! log record and every `repr()` passes through [`scrub`], which
//! - removes passwords, user names, query values and fragments from any URL in the text,
//! - replaces the values registered with [`register`] (header and env values, tokens),
//! - caps the length, so text quoted from a peer cannot grow a message without bound.
//!
//! Code that builds messages still redacts what it knows to be secret; this is the net under it.

use std::collections::VecDeque;
use std::sync::RwLock;

/// Longest text a message quotes from a peer (a header, an error body, a URL).
pub const MAX_QUOTE_CHARS: usize = 512;
/// Longest message that leaves the core.
pub const MAX_MESSAGE_CHARS: usize = 8192;
/// Shorter registered values are not replaced: "1" or "UTC" are not secrets, and replacing them
/// everywhere would garble every message.
const MIN_SECRET_CHARS: usize = 6;
const MAX_SECRETS: usize = 4096;
pub const MASK: &str = "***";

static SECRETS: RwLock<VecDeque<String>> = RwLock::new(VecDeque::new());

/// Remembers values that must never be shown (header and env values, tokens, passwords).
pub fn register<'a>(values: impl IntoIterator<Item = &'a str>) {
    let fresh: Vec<&str> = values.into_iter().map(str::trim).filter(|v| v.chars().count() >= MIN_SECRET_CHARS).collect();
    if fresh.is_empty() {
        return;
    }
    if let Ok(known) = SECRETS.read() {
        if fresh.iter().all(|v| known.iter().any(|k| k == v)) {
            return;
        }
    }
    let Ok(mut known) = SECRETS.write() else { return };
    for value in fresh {
        if !known.iter().any(|k| k == value) {
            if known.len() >= MAX_SECRETS {
                known.pop_front();
            }
            known.push_back(value.to_string());
        }
    }
}

/// Registers the secret parts of a URL: its password, user name and query values.
pub fn register_url(url: &str) {
    if let Ok(parsed) = url::Url::parse(url) {
        let mut values: Vec<String> = parsed.query_pairs().map(|(_, v)| v.into_owned()).collect();
        values.extend(parsed.password().map(str::to_string));
        if !parsed.username().is_empty() {
            values.push(parsed.username().to_string());
        }
        register(values.iter().map(String::as_str));
    }
}

/// Text safe to show: secrets out, length capped.
pub fn scrub(text: &str) -> String {
    let mut out = redact_urls_in(text);
    if let Ok(known) = SECRETS.read() {
        for secret in known.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
    }
    cap(&out, MAX_MESSAGE_CHARS)
}

/// [`scrub`] on every string of a JSON value.
pub fn scrub_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            let clean = scrub(s);
            if clean != *s {
                *s = clean;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(scrub_json),
        _ => {}
    }
}

/// At most `max` characters of text quoted from a peer, marked when cut.
pub fn quote(text: &str, max: usize) -> String {
    cap(text, max)
}

fn cap(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} more bytes)", &text[..end], text.len() - end),
    }
}

/// Query parameters of an OAuth authorization request, public by design (RFC 6749 §4.1.1,
/// RFC 7636, RFC 8707): a user must see them to log in. `code`, tokens and secrets are not here.
const PUBLIC_QUERY_KEYS: &[&str] =
    &["response_type", "client_id", "state", "code_challenge", "code_challenge_method", "redirect_uri", "scope", "resource"];

fn query_pair(key: &str, value: &str) -> String {
    if PUBLIC_QUERY_KEYS.contains(&key) { format!("{key}={value}") } else { format!("{key}={MASK}") }
}

/// A URL without its password, user name, query values or fragment, for messages and `repr()`.
/// Text that does not parse is redacted the same way by its shape, never shown whole.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else { return redact_url_text(url) };
    if parsed.cannot_be_a_base() {
        return redact_url_text(url);
    }
    if parsed.username().is_empty() && parsed.password().is_none() && parsed.query().is_none() && parsed.fragment().is_none() {
        // Nothing secret: shown as written (not normalized).
        return cap(url, MAX_QUOTE_CHARS);
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some(MASK));
    }
    if !parsed.username().is_empty() && parsed.password().is_none() {
        let _ = parsed.set_username(MASK);
    }
    if parsed.query().is_some() {
        let query = parsed.query().unwrap_or_default().to_string();
        let keys: Vec<String> = query.split('&').map(|pair| match pair.split_once('=') {
            Some((k, v)) => query_pair(k, v),
            None => format!("{pair}={MASK}"),
        }).collect();
        parsed.set_query(Some(&keys.join("&")));
    }
    if parsed.fragment().is_some() {
        parsed.set_fragment(Some(MASK));
    }
    cap(parsed.as_str(), MAX_QUOTE_CHARS)
}

/// Redaction by shape, for URLs that do not parse (`http://h:${PORT}/mcp?k=v`).
fn redact_url_text(url: &str) -> String {
    let (head, fragment) = match url.split_once('#') {
        Some((h, _)) => (h, Some(MASK)),
        None => (url, None),
    };
    let (base, query) = match head.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (head, None),
    };
    let mut out = String::new();
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            out.push_str(scheme);
            out.push_str("://");
            match authority.rsplit_once('@') {
                Some((_, host)) => {
                    out.push_str(MASK);
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(base),
    }
    if let Some(q) = query {
        out.push('?');
        let keys: Vec<String> = q.split('&').map(|pair| match pair.split_once('=') {
            Some((k, v)) => query_pair(k, v),
            None => format!("{pair}={MASK}"),
        }).collect();
        out.push_str(&keys.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    cap(&out, MAX_QUOTE_CHARS)
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\' | '|' | '{' | '}' | '^')
}

/// Every `scheme://…` in free text, redacted in place.
fn redact_urls_in(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = rest[..i].char_indices().rev().take_while(|(_, c)| is_scheme_char(*c)).last().map_or(i, |(j, _)| j);
        if start == i {
            out.push_str(&rest[..i + 3]);
            rest = &rest[i + 3..];
            continue;
        }
        let mut end = rest[i..].find(ends_url).map_or(rest.len(), |e| i + e);
        // A closing parenthesis or punctuation right after a URL belongs to the sentence.
        while end > i + 3 && rest[..end].ends_with([')', ',', '.', ';', ':', '!', '?', ']']) {
            let candidate = &rest[start..end];
            if candidate.ends_with(')') && candidate.matches('(').count() >= candidate.matches(')').count() {
                break;
            }
            if candidate.ends_with(']') && candidate.contains('[') {
                break;
            }
            end -= 1;
        }
        out.push_str(&rest[..start]);
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_text_lose_their_secrets() {
        let text = "error sending request for url (http://u:pw1234@127.0.0.1:1/mcp?token=SECRET&x=2): refused. See https://h/a#access_token=T0KEN.";
        let s = scrub(text);
        for secret in ["pw1234", "SECRET", "T0KEN"] {
            assert!(!s.contains(secret), "{s}");
        }
        assert!(s.contains("(http://u:***@127.0.0.1:1/mcp?token=***&x=***): refused"), "{s}");
        assert!(s.contains("https://h/a#***."), "{s}");
        assert_eq!(scrub("no urls here"), "no urls here");
        assert_eq!(scrub("odd ://x and http://[::1]:8/p"), "odd ://x and http://[::1]:8/p");
    }

    #[test]
    fn an_authorization_request_stays_usable_but_its_answer_does_not() {
        let url = "http://as/authorize?response_type=code&client_id=c1&state=s1&code_challenge=x&code_challenge_method=S256&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=a+b&resource=http%3A%2F%2Fh%2Fmcp";
        assert_eq!(redact_url(url), url);
        assert_eq!(redact_url("http://127.0.0.1:9/cb?code=SECRETCODE&state=s1"), "http://127.0.0.1:9/cb?code=***&state=s1");
    }

    #[test]
    fn unparsable_urls_are_redacted_by_shape() {
        assert_eq!(redact_url("http://127.0.0.1:${PORT}/mcp?k=v&x"), "http://127.0.0.1:${PORT}/mcp?k=***&x=***");
        assert_eq!(redact_url("http://tok@h:${P}/"), "http://***@h:${P}/");
        assert_eq!(redact_url("https://token@h/"), "https://***@h/");
        assert_eq!(redact_url("http://h/mcp"), "http://h/mcp");
        assert_eq!(scrub("issuer https://auth.example.com"), "issuer https://auth.example.com");
    }

    #[test]
    fn registered_values_and_length() {
        register(["hunter2-is-secret", "1", "UTC"]);
        assert_eq!(scrub("failed: hunter2-is-secret; tz UTC=1"), "failed: ***; tz UTC=1");
        let long = "x".repeat(MAX_MESSAGE_CHARS + 10);
        assert!(scrub(&long).ends_with("… (10 more bytes)"));
        assert_eq!(quote("abcdef", 3), "abc… (3 more bytes)");
    }
}
