//! SQL (coming).
