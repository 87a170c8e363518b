//! Authorization: `WWW-Authenticate` challenges and token sources (OAuth flows come later).

mod challenge;
mod token;

pub use challenge::{AuthChallenge, Challenge, parse_www_authenticate};
pub use token::{TokenError, TokenSource, Tokens, find_token_error};
