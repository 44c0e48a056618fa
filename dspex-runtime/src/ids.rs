//! Process-unique identifiers.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// A random number fixed for the life of the process (from the OS-seeded hasher keys).
pub(crate) fn process_nonce() -> u64 {
    static NONCE: OnceLock<u64> = OnceLock::new();
    *NONCE.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    })
}
