//! SQL text before it reaches DataFusion: splitting a script into statements and substituting
//! the `:name` parameters of canned queries. Works on text only; knows nothing of tables.
//!
//! Both walk the text with one scanner that knows where code ends and string literals
//! (`'...'`), quoted identifiers (`"..."`), line comments (`-- ...`) and block comments
//! (`/* ... */`) begin, so a `;` or `:name` inside them is left alone.
//!
//! # Parameters
//! `:name` (a colon, then a letter or `_`, then letters, digits or `_`) in code is replaced by
//! the value given for `name` as a SQL string literal, always: `--param f0=0912345678` gives
//! `'0912345678'` (ids keep their leading zeros and never turn into numbers), a `'` inside is
//! doubled. Where a number is needed the query casts: `CAST(:top AS BIGINT)`; time and
//! duration arguments of `f1_contacts`/`exposures` accept text as is (`'2021-08-01T00:00:00Z'`,
//! `'15m'`). `::` casts are left alone. A parameter used but not given is an error naming it.

use crate::error::{Error, Result};

/// Byte ranges of `sql` that are code (not inside literals, quoted identifiers or comments).
fn code_mask(sql: &str) -> Vec<bool> {
    let b = sql.as_bytes();
    let mut mask = vec![true; b.len()];
    let mut i = 0;
    while i < b.len() {
        let end = match b[i] {
            q @ (b'\'' | b'"') => {
                let mut j = i + 1;
                while j < b.len() && b[j] != q {
                    j += 1;
                }
                j + 1
            }
            b'-' if b.get(i + 1) == Some(&b'-') => b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut j = i + 2;
                while j + 1 < b.len() && !(b[j] == b'*' && b[j + 1] == b'/') {
                    j += 1;
                }
                j + 2
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let end = end.min(b.len());
        mask[i..end].fill(false);
        i = end;
    }
    mask
}

/// Whether `sql` has anything but whitespace and comments.
fn has_code(sql: &str) -> bool {
    sql.bytes().zip(code_mask(sql)).any(|(c, code)| code && !c.is_ascii_whitespace())
}

/// Split a script into statements at `;` outside literals and comments. Statements are
/// trimmed, keep their comments, and empty ones (only whitespace or comments) are dropped.
///
/// ```
/// let s = truyvet::sql::split_statements("-- a\nSELECT ';'; SELECT 2 /* ; */;\n-- end\n");
/// assert_eq!(s, ["-- a\nSELECT ';'", "SELECT 2 /* ; */"]);
/// ```
pub fn split_statements(script: &str) -> Vec<&str> {
    let mask = code_mask(script);
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in script.bytes().enumerate() {
        if c == b';' && mask[i] {
            out.push(&script[start..i]);
            start = i + 1;
        }
    }
    out.push(&script[start..]);
    out.into_iter().map(str::trim).filter(|s| has_code(s)).collect()
}

/// Whether an interactive buffer holds complete statements: it has code, and the last code
/// character is a `;` outside literals and comments.
///
/// ```
/// use truyvet::sql::is_complete;
/// assert!(is_complete("SELECT 1; -- done"));
/// assert!(!is_complete("SELECT ';'"));
/// ```
pub fn is_complete(buffer: &str) -> bool {
    let mask = code_mask(buffer);
    let last = buffer.bytes().zip(mask).rfind(|&(c, code)| code && !c.is_ascii_whitespace());
    matches!(last, Some((b';', _)))
}

fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Substitute `:name` parameters by string literals (see the module docs).
///
/// ```
/// let p = [("f0".to_string(), "09'1".to_string())];
/// let sql = truyvet::sql::bind_params("SELECT * FROM f1_contacts(:f0) -- :f0", &p)?;
/// assert_eq!(sql, "SELECT * FROM f1_contacts('09''1') -- :f0");
/// # Ok::<(), truyvet::Error>(())
/// ```
pub fn bind_params(sql: &str, params: &[(String, String)]) -> Result<String> {
    let b = sql.as_bytes();
    let mask = code_mask(sql);
    let mut out = String::with_capacity(sql.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        if !(mask[i] && b[i] == b':') {
            i += 1;
            continue;
        }
        if b.get(i + 1) == Some(&b':') {
            i += 2;
            continue;
        }
        if !b.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') {
            i += 1;
            continue;
        }
        let end = (i + 1..b.len()).find(|&j| !(b[j].is_ascii_alphanumeric() || b[j] == b'_')).unwrap_or(b.len());
        let name = &sql[i + 1..end];
        let value =
            params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v).ok_or_else(|| Error::InvalidArgument {
                what: "parameter",
                value: format!(":{name}"),
                hint: format!("the query uses :{name}; pass --param {name}=VALUE"),
            })?;
        out.push_str(&sql[copied..i]);
        out.push_str(&literal(value));
        (i, copied) = (end, end);
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// Parse `name=value` (a `--param` argument).
///
/// ```
/// assert_eq!(truyvet::sql::parse_param("f0=P1")?, ("f0".to_string(), "P1".to_string()));
/// # Ok::<(), truyvet::Error>(())
/// ```
pub fn parse_param(arg: &str) -> Result<(String, String)> {
    let bad = || Error::InvalidArgument {
        what: "parameter",
        value: arg.to_string(),
        hint: "write name=value, e.g. --param f0=0912345678".into(),
    };
    let (name, value) = arg.split_once('=').ok_or_else(bad)?;
    let name = name.trim();
    let valid = name.bytes().next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if !valid {
        return Err(bad());
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn binds_strings_and_skips_quotes_comments_and_casts() {
        let sql =
            "SELECT ':x', x::text, \"a:b\" FROM t -- :ignored\nWHERE a = :f0 AND n < CAST(:limit AS INT) /* :no */";
        let got = bind_params(sql, &[p("f0", "09'1"), p("limit", "20")]).unwrap();
        assert_eq!(
            got,
            "SELECT ':x', x::text, \"a:b\" FROM t -- :ignored\nWHERE a = '09''1' AND n < CAST('20' AS INT) /* :no */"
        );
        let err = bind_params("SELECT :missing", &[]).unwrap_err().to_string();
        assert!(err.contains("--param missing="), "{err}");
        assert_eq!(bind_params("SELECT :v", &[p("v", "0912345678")]).unwrap(), "SELECT '0912345678'");
        assert_eq!(bind_params("SELECT :v,:v_2", &[p("v", "1"), p("v_2", "x")]).unwrap(), "SELECT '1','x'");
        assert_eq!(bind_params("SELECT 1 :", &[]).unwrap(), "SELECT 1 :");
    }

    #[test]
    fn splits_scripts_and_sees_complete_buffers() {
        assert_eq!(split_statements("SELECT 1;SELECT 'a;b'  ;\n\n;  "), ["SELECT 1", "SELECT 'a;b'"]);
        assert_eq!(split_statements("SELECT 1 -- no semicolon"), ["SELECT 1 -- no semicolon"]);
        assert!(split_statements("-- only a comment\n/* and ; this */").is_empty());
        assert!(is_complete("SELECT 1;\n"));
        assert!(is_complete("SELECT 1; /* c */"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT 'unterminated;"));
        assert!(!is_complete("-- SELECT 1;"));
    }

    #[test]
    fn parses_params() {
        assert_eq!(parse_param("from=2021-08-01T00:00:00Z").unwrap(), p("from", "2021-08-01T00:00:00Z"));
        assert_eq!(parse_param("x=a=b").unwrap(), p("x", "a=b"));
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("1x=2").is_err());
    }
}
