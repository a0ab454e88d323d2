//! The read-only sandbox: which statements may run, and which functions exist.
//!
//! Two layers, so that one mistake does not open the store:
//! 1. An allowlist on the parsed statement ([`check`]): queries (`SELECT`, `WITH`, `VALUES`),
//!    `EXPLAIN [ANALYZE]` of a query, `DESCRIBE`, `SHOW TABLES`, `SHOW COLUMNS`, `SHOW <setting>`.
//!    Everything else (`CREATE [EXTERNAL] TABLE`, `CREATE TABLE AS`, `SELECT ... INTO`,
//!    `CREATE VIEW`, `INSERT`, `UPDATE`, `DELETE`, `COPY ... TO`, `DROP`, `SET`, `RESET`,
//!    transactions, `PREPARE`/`EXECUTE`) is refused with a message naming it.
//! 2. DataFusion's own [`SQLOptions`] with DDL, DML and statements disallowed, checked on every
//!    logical plan ([`options`]`().verify_plan(..)`), whatever the parser produced.
//!
//! Files are reachable only through the tables registered from the manifest: the session has
//! no URL tables (`SELECT * FROM 'file.parquet'`), no table factories (`CREATE EXTERNAL
//! TABLE` has nothing to create) and only the table functions in [`TABLE_FUNCTIONS`] (no
//! `read_parquet`/`read_csv`-like function exists). This module owns those rules; it must not
//! register tables itself.

use datafusion::execution::context::SQLOptions;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{SetExpr, Statement};

/// The table functions a session has: DataFusion's generators and truyvet's trace functions.
/// Any other default table function of a future DataFusion is left out on purpose.
pub(crate) const TABLE_FUNCTIONS: [&str; 6] =
    ["generate_series", "range", "f1_contacts", "exposures", "hotspots", "clusters"];

/// What the sandbox allows, for messages.
const ALLOWED: &str = "SELECT/WITH queries, EXPLAIN [ANALYZE], DESCRIBE and SHOW only";

/// The options every user statement is planned with.
pub(crate) fn options() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// Refuse anything but read-only statements. `text` is the statement as written (for naming
/// what was refused).
pub(crate) fn check(statement: &DfStatement, text: &str) -> Result<(), String> {
    match statement {
        DfStatement::Statement(s) => check_sql(s, text),
        DfStatement::Explain(e) => check(&e.statement, text),
        DfStatement::CreateExternalTable(_) => Err(refusal("CREATE EXTERNAL TABLE")),
        DfStatement::CopyTo(_) => Err(refusal("COPY ... TO")),
        DfStatement::Reset(_) => Err(refusal("RESET")),
    }
}

/// Refuse a parsed SQL statement that is not read-only, as [`check`] does: for front ends
/// that parse themselves (Postgres wire). `text` names what was refused.
pub fn check_statement(statement: &Statement, text: &str) -> Result<(), String> {
    check_sql(statement, text)
}

fn check_sql(statement: &Statement, text: &str) -> Result<(), String> {
    match statement {
        Statement::Query(q) => match q.body.as_ref() {
            SetExpr::Select(s) if s.into.is_some() => Err(refusal("SELECT ... INTO")),
            _ => Ok(()),
        },
        Statement::Explain { statement, .. } => check_sql(statement, text),
        Statement::ExplainTable { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowFunctions { .. } => Ok(()),
        Statement::CreateTable(t) if t.query.is_some() => Err(refusal("CREATE TABLE ... AS")),
        _ => Err(refusal(&leading_keywords(text))),
    }
}

fn refusal(what: &str) -> String {
    format!("refused: {what} is not allowed; truyvet SQL is read-only ({ALLOWED})")
}

/// `CREATE OR REPLACE VIEW v AS ...` → `CREATE OR REPLACE VIEW`: the statement's leading SQL
/// keywords, for naming a refused statement.
fn leading_keywords(text: &str) -> String {
    const KEYWORDS: [&str; 34] = [
        "ALTER",
        "BEGIN",
        "COMMIT",
        "CREATE",
        "DATABASE",
        "DEALLOCATE",
        "DELETE",
        "DROP",
        "EXECUTE",
        "EXTERNAL",
        "FROM",
        "FUNCTION",
        "INDEX",
        "INSERT",
        "INTO",
        "LOCAL",
        "MERGE",
        "OR",
        "OVERWRITE",
        "PREPARE",
        "REPLACE",
        "ROLLBACK",
        "SCHEMA",
        "SESSION",
        "SET",
        "START",
        "TABLE",
        "TEMP",
        "TEMPORARY",
        "TRANSACTION",
        "TRUNCATE",
        "UNBOUNDED",
        "UPDATE",
        "VIEW",
    ];
    let words: Vec<String> = text
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .skip_while(|w| ["EXPLAIN", "ANALYZE", "VERBOSE"].contains(&w.as_str()))
        .take_while(|w| KEYWORDS.contains(&w.as_str()))
        .collect();
    match words.is_empty() {
        true => text.split_whitespace().next().map_or_else(|| "this statement".into(), str::to_ascii_uppercase),
        false => words.join(" "),
    }
}

/// Rephrase DataFusion's own refusal (layer 2) in the sandbox's words.
pub(crate) fn explain_refusal(message: &str) -> Option<String> {
    ["DDL not supported: ", "DML not supported: ", "Statement not supported: "].into_iter().find_map(|k| {
        let at = message.find(k)?;
        let what = message[at + k.len()..].lines().next().unwrap_or_default().trim();
        Some(refusal(what))
    })
}

#[cfg(test)]
mod tests {
    use datafusion::sql::parser::DFParser;

    use super::*;

    fn verdict(sql: &str) -> Result<(), String> {
        let mut parsed = DFParser::parse_sql(sql).unwrap();
        check(&parsed.pop_front().unwrap(), sql)
    }

    #[test]
    fn allows_queries_and_names_what_it_refuses() {
        for ok in [
            "SELECT 1",
            "WITH a AS (SELECT 1) SELECT * FROM a",
            "EXPLAIN ANALYZE SELECT 1",
            "DESCRIBE checkins",
            "SHOW TABLES",
            "VALUES (1)",
        ] {
            assert_eq!(verdict(ok), Ok(()), "{ok}");
        }
        for (sql, named) in [
            ("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'", "CREATE EXTERNAL TABLE"),
            ("COPY checkins TO '/tmp/x.parquet'", "COPY ... TO"),
            ("EXPLAIN COPY checkins TO '/tmp/x.parquet'", "COPY ... TO"),
            ("EXPLAIN ANALYZE INSERT INTO checkins SELECT * FROM checkins", "INSERT INTO"),
            ("INSERT INTO checkins VALUES ('a','b',now(),NULL,now())", "INSERT INTO"),
            ("create table t as select 1", "CREATE TABLE ... AS"),
            ("CREATE TABLE t (a INT)", "CREATE TABLE"),
            ("DROP TABLE checkins", "DROP TABLE"),
            ("SET datafusion.execution.target_partitions = 1", "SET"),
            ("SELECT 1 INTO t", "SELECT ... INTO"),
            ("CREATE OR REPLACE VIEW v AS SELECT 1", "CREATE OR REPLACE VIEW"),
            ("DELETE FROM checkins", "DELETE FROM"),
        ] {
            let err = verdict(sql).unwrap_err();
            assert!(err.starts_with(&format!("refused: {named} is not allowed")), "{sql}: {err}");
        }
    }
}
