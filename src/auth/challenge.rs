//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728 §5.1).
//! Tolerant: a malformed header yields what could be read, never a panic.

/// One challenge: a scheme and its parameters (names lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What a 401/403 challenge tells a client about authorizing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthChallenge {
    pub challenges: Vec<Challenge>,
    pub resource_metadata_url: Option<String>,
    pub scope: Option<String>,
    /// `realm` when it is an http(s) URL (some servers name their authorization server there).
    pub issuer: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Parses a header value that may hold several challenges. The Bearer challenge, when there
/// is one, supplies the summary fields.
pub fn parse_www_authenticate(header: &str) -> AuthChallenge {
    let challenges = parse_challenges(header);
    let main = challenges
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .or_else(|| challenges.first())
        .cloned()
        .unwrap_or_default();
    let get = |name: &str| main.param(name).map(str::to_string);
    // Only an http(s) URL can be fetched: `javascript:` or `file:` is no place to look.
    let is_http = |u: &String| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    let issuer = get("realm").filter(is_http);
    AuthChallenge {
        resource_metadata_url: get("resource_metadata").filter(is_http),
        scope: get("scope"),
        issuer,
        error: get("error"),
        error_description: get("error_description"),
        challenges,
    }
}

fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut lexer = Lexer { s: header.as_bytes(), i: 0 };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        lexer.skip_separators();
        if lexer.done() {
            return out;
        }
        let Some(token) = lexer.token() else {
            lexer.i += 1; // unexpected byte: skip it
            continue;
        };
        lexer.skip_ws();
        if lexer.peek() == Some(b'=') {
            // `name=value`: a parameter of the current challenge.
            lexer.i += 1;
            lexer.skip_ws();
            let value = lexer.value();
            match out.last_mut() {
                Some(c) => c.params.push((token.to_ascii_lowercase(), value)),
                None => out.push(Challenge { scheme: String::new(), params: vec![(token.to_ascii_lowercase(), value)] }),
            }
        } else {
            // A scheme starts a new challenge; a token68 after it is kept as `token68`.
            let mut challenge = Challenge { scheme: token, params: Vec::new() };
            let save = lexer.i;
            if let Some(t68) = lexer.token68() {
                lexer.skip_ws();
                if matches!(lexer.peek(), None | Some(b',')) {
                    challenge.params.push(("token68".into(), t68));
                } else {
                    lexer.i = save;
                }
            }
            out.push(challenge);
        }
    }
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn is_tchar(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(Self::is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn token68(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)) {
            self.i += 1;
        }
        while self.peek() == Some(b'=') {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    /// A quoted string (with `\` escapes) or a bare token.
    fn value(&mut self) -> String {
        if self.peek() != Some(b'"') {
            let start = self.i;
            while self.peek().is_some_and(|b| b != b',' && b != b' ' && b != b'\t') {
                self.i += 1;
            }
            return String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        }
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_count() {
        for bad in ["javascript:alert(1)", "file:///etc/passwd", "data:,x", "https://", "ftp://h/x"] {
            let c = parse_www_authenticate(&format!(r#"Bearer resource_metadata="{bad}", realm="{bad}""#));
            assert_eq!((c.resource_metadata_url, c.issuer), (None, None), "{bad}");
        }
    }

    #[test]
    fn bearer_with_resource_metadata_and_scope() {
        let c = parse_www_authenticate(
            r#"Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp", scope="files:read files:write""#,
        );
        assert_eq!(c.resource_metadata_url.as_deref(), Some("https://mcp.example/.well-known/oauth-protected-resource/mcp"));
        assert_eq!(c.scope.as_deref(), Some("files:read files:write"));
        assert_eq!(c.issuer, None);
    }

    #[test]
    fn several_challenges_unquoted_values_and_escapes() {
        let c = parse_www_authenticate(
            r#"Basic realm="x", Bearer realm=https://as.example, error=invalid_token, error_description="the \"token\" expired""#,
        );
        assert_eq!(c.challenges.len(), 2);
        assert_eq!(c.challenges[0].scheme, "Basic");
        assert_eq!(c.issuer.as_deref(), Some("https://as.example"));
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        assert_eq!(c.error_description.as_deref(), Some(r#"the "token" expired"#));
    }

    #[test]
    fn realm_that_is_not_a_url_is_not_an_issuer() {
        assert_eq!(parse_www_authenticate(r#"Bearer realm="api""#).issuer, None);
    }

    #[test]
    fn token68_and_garbage_do_not_panic() {
        let c = parse_www_authenticate("Negotiate abc123==, Bearer");
        assert_eq!(c.challenges[0].param("token68"), Some("abc123=="));
        for s in ["", ",,,", "=", "\"", "Bearer a=\"unterminated", "é=ü", "Bearer ,=,", "a b c = d"] {
            let _ = parse_www_authenticate(s);
        }
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        fn token() -> impl Strategy<Value = String> {
            "[A-Za-z][A-Za-z0-9_.-]{0,12}"
        }

        /// A parameter value as a server might send it: any printable ASCII, quoted and escaped.
        fn quoted(value: &str) -> String {
            let mut out = String::from("\"");
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn never_panics_on_any_text(s in any::<String>()) {
                let _ = parse_www_authenticate(&s);
            }

            #[test]
            fn never_panics_on_header_like_bytes(s in "[ -~\t]{0,200}") {
                let _ = parse_www_authenticate(&s);
            }

            #[test]
            fn written_challenges_read_back(
                challenges in prop::collection::vec((token(), prop::collection::vec((token(), "[ -~]{0,30}", any::<bool>()), 1..5)), 1..4)
            ) {
                let header = challenges
                    .iter()
                    .map(|(scheme, params)| {
                        let params: Vec<String> = params
                            .iter()
                            .map(|(name, value, bare)| {
                                // Bare values must be tokens; others are always quoted.
                                let bare = *bare && !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric());
                                format!("{name}={}", if bare { value.clone() } else { quoted(value) })
                            })
                            .collect();
                        format!("{scheme} {}", params.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let parsed = parse_www_authenticate(&header);
                prop_assert_eq!(parsed.challenges.len(), challenges.len(), "{}", header);
                for (got, (scheme, params)) in parsed.challenges.iter().zip(&challenges) {
                    prop_assert_eq!(&got.scheme, scheme);
                    let want: Vec<(String, String)> = params.iter().map(|(n, v, _)| (n.to_ascii_lowercase(), v.clone())).collect();
                    prop_assert_eq!(&got.params, &want, "{}", header);
                }
            }
        }
    }
}
