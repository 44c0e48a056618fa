//! The bridge's secret token: random per bridge, required on every call.

use dspex_core::{Error, Result};
use tonic::{Request, Status};

/// The metadata key that carries the token.
pub const TOKEN_KEY: &str = "x-dspex-token";

/// A fresh random token (256 bits, hex).
pub(crate) fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Bridge {
        message: format!("could not draw a random token from the OS: {e}"),
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// An interceptor that refuses every call without the right token, and every call that
/// carries more than one token entry (whichever comes first, one of them would win: a
/// request must not be read two ways).
pub(crate) fn require_token(
    token: String,
) -> impl Fn(Request<()>) -> std::result::Result<Request<()>, Status> + Clone {
    move |req: Request<()>| {
        let mut given = req.metadata().get_all(TOKEN_KEY).iter();
        let (first, second) = (given.next(), given.next());
        match (first, second) {
            (Some(value), None) if constant_time_eq(value.as_bytes(), token.as_bytes()) => Ok(req),
            (Some(_), Some(_)) => Err(Status::unauthenticated(format!(
                "more than one bridge token (metadata `{TOKEN_KEY}`): send exactly one"
            ))),
            _ => Err(Status::unauthenticated(format!(
                "missing or wrong bridge token (metadata `{TOKEN_KEY}`)"
            ))),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
