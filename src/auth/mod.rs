//! Authorization: `WWW-Authenticate` challenges, token sources, the OAuth 2.1 flows.

mod challenge;
pub mod oauth;
mod token;

pub use challenge::{AuthChallenge, Challenge, parse_www_authenticate};
pub use oauth::{OAuthSettings, OAuthSource};
pub use token::{Rejection, TokenError, TokenErrorKind, TokenSource, Tokens, find_token_error};
