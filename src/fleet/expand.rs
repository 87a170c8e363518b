//! `${VAR}` and `${VAR:-default}` in env, headers, url and args, from the environment at start
//! time. `$$` is a literal `$`; any other `$` is kept as it is.

/// Expands `text`; `Err(name)` names the first variable that is unset and has no default.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let (Some(body), Some(end)) = (after.strip_prefix('{'), after.find('}')) {
            let inner = &body[..end - 1];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if is_variable_name(name) {
                match (lookup(name).filter(|v| !v.is_empty() || default.is_none()), default) {
                    (Some(value), _) => out.push_str(&value),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => return Err(name.to_string()),
                }
            } else {
                out.push_str(&rest[i..i + 1 + end + 1]);
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Expands from this process's environment.
pub fn expand_env(text: &str) -> Result<String, String> {
    expand(text, |name| std::env::var(name).ok())
}

/// Variables referenced without a default that are unset now.
pub fn missing_variables(text: &str) -> Vec<String> {
    let mut missing: Vec<String> = Vec::new();
    // Each pass reports one variable; pretend the ones found are set and look again.
    while let Err(name) = expand(text, |n| if missing.iter().any(|m| m == n) { Some("x".into()) } else { std::env::var(n).ok() }) {
        missing.push(name);
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion() {
        assert_eq!(expand("${HOME}/x", env).unwrap(), "/home/u/x");
        assert_eq!(expand("a${NOPE:-b}c", env).unwrap(), "abc");
        assert_eq!(expand("${EMPTY:-d}", env).unwrap(), "d");
        assert_eq!(expand("${EMPTY}", env).unwrap(), "");
        assert_eq!(expand("cost: $$5 and $HOME ${not a var}", env).unwrap(), "cost: $5 and $HOME ${not a var}");
        assert_eq!(expand("${NOPE}", env).unwrap_err(), "NOPE");
        assert_eq!(expand("tail ${", env).unwrap(), "tail ${");
    }

    #[test]
    fn all_missing_variables_are_listed() {
        assert_eq!(missing_variables("${MCPFLEET_NOPE_A} ${MCPFLEET_NOPE_B:-x} ${MCPFLEET_NOPE_C}"), ["MCPFLEET_NOPE_A", "MCPFLEET_NOPE_C"]);
    }
}
