//! Public names of aggregated tools and prompts: `{prefix}_{name}`, the prefix not doubled,
//! limited to `^[a-zA-Z0-9_-]{1,64}$`, collisions resolved deterministically and reported.

pub const MAX_NAME_LEN: usize = 64;

/// FNV-1a: stable across processes and Rust versions (names must not change between runs).
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn short_hash(text: &str) -> String {
    format!("{:08x}", stable_hash(text) as u32)
}

/// `{prefix}_{name}` with invalid characters replaced and long names shortened.
pub fn public_name(prefix: &str, name: &str) -> String {
    // An empty prefix (`toolPrefix: ""`) publishes names as the server gives them.
    let joined = if prefix.is_empty() || name.starts_with(&format!("{prefix}_")) { name.to_string() } else { format!("{prefix}_{name}") };
    let clean: String = joined.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    if clean.len() <= MAX_NAME_LEN && clean == joined {
        return clean;
    }
    // Changed or too long: a hash of the original keeps distinct names distinct.
    shorten(&clean, &joined)
}

/// Fits `name` into the limit with a hash of `original` as suffix (`name` is ASCII by now).
fn shorten(name: &str, original: &str) -> String {
    let suffix = short_hash(original);
    let keep = name.len().min(MAX_NAME_LEN - suffix.len() - 1);
    format!("{}_{suffix}", &name[..keep])
}

/// One entry offered under a public name.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub public: String,
    pub server: String,
    pub original: String,
}

/// A name two servers wanted; `winner` kept it, `renamed` got another.
#[derive(Debug, Clone, PartialEq)]
pub struct Collision {
    pub wanted: String,
    pub winner: String,
    pub loser_server: String,
    pub renamed_to: String,
}

/// Assigns public names. `items` are (server, prefix, original name). The result does not
/// depend on the order of `items`: the server that sorts first keeps a contested name, the
/// others get `{name}` with a hash of server and name appended.
pub fn assign(items: &[(String, String, String)]) -> (Vec<Named>, Vec<Collision>) {
    let mut wanted: Vec<(String, &String, &String)> = items.iter().map(|(server, prefix, name)| (public_name(prefix, name), server, name)).collect();
    wanted.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    let mut taken = std::collections::HashSet::new();
    let mut named = Vec::with_capacity(wanted.len());
    let mut collisions = Vec::new();
    // Uncontested names first, so a renamed entry never steals another's own name.
    let mut contested = Vec::new();
    for (i, (public, server, original)) in wanted.iter().enumerate() {
        if i > 0 && wanted[i - 1].0 == *public {
            contested.push((public.clone(), (*server).clone(), (*original).clone()));
            continue;
        }
        taken.insert(public.clone());
        named.push(Named { public: public.clone(), server: (*server).clone(), original: (*original).clone() });
    }
    for (public, server, original) in contested {
        // The first of a run of equal names went to `named` above.
        let winner = named.iter().find(|n| n.public == public).map(|n| n.server.clone()).unwrap_or_default();
        let mut salt = 0u32;
        let renamed = loop {
            let base: String = public.chars().take(MAX_NAME_LEN - 9).collect();
            let candidate = format!("{base}_{}", short_hash(&format!("{server}\u{0}{original}\u{0}{salt}")));
            if taken.insert(candidate.clone()) {
                break candidate;
            }
            salt += 1;
        };
        collisions.push(Collision { wanted: public, winner, loser_server: server.clone(), renamed_to: renamed.clone() });
        named.push(Named { public: renamed, server, original });
    }
    named.sort_by(|a, b| a.public.cmp(&b.public));
    (named, collisions)
}

pub fn is_valid_public_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(server: &str, prefix: &str, name: &str) -> (String, String, String) {
        (server.into(), prefix.into(), name.into())
    }

    #[test]
    fn prefix_rules() {
        assert_eq!(public_name("time", "now"), "time_now");
        assert_eq!(public_name("kubernetes", "kubernetes_get"), "kubernetes_get");
        assert_eq!(public_name("", "test_simple_text"), "test_simple_text");
        let dotted = public_name("fs", "read.file");
        assert!(dotted.starts_with("fs_read_file_") && is_valid_public_name(&dotted), "{dotted}");
        let long = public_name("server", &"x".repeat(100));
        assert_eq!(long.len(), MAX_NAME_LEN);
        assert!(is_valid_public_name(&long));
        assert_ne!(long, public_name("server", &"x".repeat(101)), "shortened names stay distinct");
        assert_eq!(long, public_name("server", &"x".repeat(100)), "and stable");
    }

    #[test]
    fn collisions_are_deterministic_and_reported() {
        let a = [item("alpha", "p", "echo"), item("beta", "p", "echo"), item("beta", "p", "add")];
        let mut b = a.clone();
        b.reverse();
        let (named_a, coll_a) = assign(&a);
        let (named_b, coll_b) = assign(&b);
        assert_eq!(named_a, named_b);
        assert_eq!(coll_a, coll_b);
        assert_eq!(coll_a.len(), 1);
        assert_eq!(coll_a[0].winner, "alpha");
        assert_eq!(coll_a[0].loser_server, "beta");
        let winner = named_a.iter().find(|n| n.public == "p_echo").unwrap();
        assert_eq!(winner.server, "alpha");
        assert!(named_a.iter().any(|n| n.server == "beta" && n.original == "echo" && n.public.starts_with("p_echo_")));
        assert!(named_a.iter().all(|n| is_valid_public_name(&n.public)));
    }
}
