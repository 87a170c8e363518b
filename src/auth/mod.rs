//! Authorization: `WWW-Authenticate` challenges (token providers and OAuth flows come later).

mod challenge;

pub use challenge::{AuthChallenge, Challenge, parse_www_authenticate};
