//! SQL text before it reaches DataFusion: splitting a script into statements and substituting
//! the `:name` parameters of canned queries. Works on text only; knows nothing of tables.
//!
//! Both read the text with sqlparser's tokenizer in the dialect DataFusion parses with, so a `;`
//! or `:name` inside a string literal (`'...'`, `E'...'`, `$$...$$`), a quoted identifier or a
//! comment is left alone exactly where the parser would see it as such. Token positions map
//! back to the original text, so statements keep their comments and spelling.
//!
//! # Parameters
//! `:name` (a colon, then a word starting with a letter or `_`) in code is replaced by the value
//! given for `name` as a SQL string literal, always: `--param f0=0912345678` gives
//! `'0912345678'` (ids keep their leading zeros and never turn into numbers), a `'` inside is
//! doubled. Where a number is needed the query casts: `CAST(:top AS BIGINT)`; time and
//! duration arguments of `f1_contacts`/`exposures` accept text as is (`'2021-08-01T00:00:00Z'`,
//! `'15m'`). `::` casts are left alone. A parameter used but not given is an error naming it.
//!
//! Text substitution rather than DataFusion's typed placeholders (`$name` with `ParamValues`):
//! table-function arguments are evaluated while the statement is planned, before placeholders
//! are bound, so `f1_contacts($f0)` cannot take one.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, TokenizerError};

use crate::error::{Error, ErrorKind, Result};

/// The tokens of `sql`, each with the byte offset where it starts.
fn lex(sql: &str) -> Result<Vec<(usize, Token)>, TokenizerError> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location()?;
    // Locations are 1-based (line, column in chars; only `\n` starts a line): walk the text
    // once, in step with the tokens, to turn them into byte offsets.
    let mut out = Vec::with_capacity(tokens.len());
    let (mut line, mut column, mut byte) = (1u64, 1u64, 0usize);
    let mut chars = sql.char_indices();
    for t in tokens {
        while (line, column) < (t.span.start.line, t.span.start.column) {
            let Some((i, c)) = chars.next() else { break };
            byte = i + c.len_utf8();
            (line, column) = if c == '\n' { (line + 1, 1) } else { (line, column + 1) };
        }
        out.push((byte, t.token));
    }
    Ok(out)
}

fn is_code(t: &Token) -> bool {
    !matches!(t, Token::Whitespace(_) | Token::EOF)
}

/// Split a script into statements at `;` outside literals and comments. Statements are
/// trimmed, keep their comments, and empty ones (only whitespace or comments) are dropped. A
/// script the tokenizer cannot read (an unterminated literal) is one statement, for the parser
/// to report.
///
/// ```
/// let s = truyvet::sql::split_statements("-- a\nSELECT ';'; SELECT $$;$$ /* ; */;\n-- end\n");
/// assert_eq!(s, ["-- a\nSELECT ';'", "SELECT $$;$$ /* ; */"]);
/// ```
pub fn split_statements(script: &str) -> Vec<&str> {
    let Ok(tokens) = lex(script) else {
        return if script.trim().is_empty() { Vec::new() } else { vec![script.trim()] };
    };
    let mut out = Vec::new();
    let (mut start, mut code) = (0, false);
    for (at, t) in &tokens {
        match t {
            Token::SemiColon => {
                if code {
                    out.push(script[start..*at].trim());
                }
                (start, code) = (at + 1, false);
            }
            t => code |= is_code(t),
        }
    }
    if code {
        out.push(script[start..].trim());
    }
    out
}

/// Whether an interactive buffer holds complete statements: it has code, and the last code
/// token is a `;` (an unterminated literal or comment is not complete).
///
/// ```
/// use truyvet::sql::is_complete;
/// assert!(is_complete("SELECT 1; -- done"));
/// assert!(!is_complete("SELECT ';'"));
/// ```
pub fn is_complete(buffer: &str) -> bool {
    lex(buffer).is_ok_and(|tokens| matches!(tokens.iter().rev().find(|(_, t)| is_code(t)), Some((_, Token::SemiColon))))
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
    let tokens =
        lex(sql).map_err(|e| Error::Sql { message: e.to_string(), statement: sql.into(), kind: ErrorKind::Usage })?;
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for (i, pair) in tokens.windows(2).enumerate() {
        let [(colon, Token::Colon), (word_at, Token::Word(w))] = pair else { continue };
        let named = *word_at == colon + 1
            && w.quote_style.is_none()
            && w.value.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !named {
            continue;
        }
        let end = tokens.get(i + 2).map_or(sql.len(), |(at, _)| *at);
        let name = &w.value;
        let value =
            params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v).ok_or_else(|| Error::InvalidArgument {
                what: "parameter",
                value: format!(":{name}"),
                hint: format!("the query uses :{name}; pass --param {name}=VALUE"),
            })?;
        out.push_str(&sql[copied..*colon]);
        out.push_str(&literal(value));
        copied = end;
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
        // Literals the tokenizer knows: escaped strings, dollar quoting, nested quotes.
        assert_eq!(
            bind_params("SELECT E'it\\'s :a', $$ :a $$, 'O''Brien :a', :a", &[p("a", "1")]).unwrap(),
            "SELECT E'it\\'s :a', $$ :a $$, 'O''Brien :a', '1'"
        );
        // Positions survive multi-byte text before the parameter.
        assert_eq!(bind_params("SELECT 'Huế', :v -- phường", &[p("v", "x")]).unwrap(), "SELECT 'Huế', 'x' -- phường");
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
        assert!(!is_complete("SELECT $$;"));
        assert_eq!(split_statements("SELECT E'a\\';b'; SELECT 2"), ["SELECT E'a\\';b'", "SELECT 2"]);
        assert_eq!(split_statements("SELECT 'Đà Nẵng'; SELECT 'Huế'"), ["SELECT 'Đà Nẵng'", "SELECT 'Huế'"]);
    }

    #[test]
    fn parses_params() {
        assert_eq!(parse_param("from=2021-08-01T00:00:00Z").unwrap(), p("from", "2021-08-01T00:00:00Z"));
        assert_eq!(parse_param("x=a=b").unwrap(), p("x", "a=b"));
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("1x=2").is_err());
    }
}
