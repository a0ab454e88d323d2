//! Two rules side by side: who each lists, who only one lists, and how ranks move.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use serde::Serialize;

use super::TraceResult;
use crate::model::PersonId;

/// One person listed by either rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// The person.
    pub person_id: PersonId,
    /// Rank under rule A, if listed.
    pub rank_a: Option<u32>,
    /// Rank under rule B, if listed.
    pub rank_b: Option<u32>,
}

impl Listed {
    /// Places gained under B (`rank_a − rank_b`: positive when B ranks it higher), when both
    /// list it.
    pub fn moved(&self) -> Option<i64> {
        Some(i64::from(self.rank_a?) - i64::from(self.rank_b?))
    }
}

/// The comparison of two traces of one F0 (see [`Comparison::of`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Rule A's name.
    pub a: String,
    /// Rule B's name.
    pub b: String,
    /// Everyone listed: A's list in A's order, then those only B lists in B's order.
    pub rows: Vec<Listed>,
    /// Listed by both.
    pub both: usize,
    /// Listed only by A.
    pub only_a: usize,
    /// Listed only by B.
    pub only_b: usize,
    /// Listed by both, ranked higher by B.
    pub up: usize,
    /// Listed by both, ranked lower by B.
    pub down: usize,
}

impl Comparison {
    /// Compare `a` and `b`, traces of the same F0 (under different rules or parameters).
    pub fn of(a: &TraceResult, b: &TraceResult) -> Comparison {
        let in_b: HashMap<&str, u32> = b.contacts.iter().map(|c| (c.person_id.as_str(), c.rank)).collect();
        let in_a: HashMap<&str, u32> = a.contacts.iter().map(|c| (c.person_id.as_str(), c.rank)).collect();
        let mut rows: Vec<Listed> = a
            .contacts
            .iter()
            .map(|c| Listed {
                person_id: c.person_id.clone(),
                rank_a: Some(c.rank),
                rank_b: in_b.get(c.person_id.as_str()).copied(),
            })
            .collect();
        rows.extend(b.contacts.iter().filter(|c| !in_a.contains_key(c.person_id.as_str())).map(|c| Listed {
            person_id: c.person_id.clone(),
            rank_a: None,
            rank_b: Some(c.rank),
        }));
        let count = |f: &dyn Fn(&Listed) -> bool| rows.iter().filter(|r| f(r)).count();
        Comparison {
            a: a.request.rule.name().to_string(),
            b: b.request.rule.name().to_string(),
            both: count(&|r| r.rank_a.is_some() && r.rank_b.is_some()),
            only_a: count(&|r| r.rank_b.is_none()),
            only_b: count(&|r| r.rank_a.is_none()),
            up: count(&|r| r.moved().is_some_and(|m| m > 0)),
            down: count(&|r| r.moved().is_some_and(|m| m < 0)),
            rows,
        }
    }

    /// Name the two sides (a rules file's names rather than their base presets).
    pub fn named(mut self, a: &str, b: &str) -> Comparison {
        self.a = a.to_string();
        self.b = b.to_string();
        self
    }

    /// The counts in one line.
    pub fn summary(&self) -> String {
        format!(
            "{a}: {na} listed, {b}: {nb} listed; both {both}, only {a} {oa}, only {b} {ob}; of those in both, {up} ranked higher by {b}, {down} lower, {same} same",
            a = self.a,
            b = self.b,
            na = self.both + self.only_a,
            nb = self.both + self.only_b,
            both = self.both,
            oa = self.only_a,
            ob = self.only_b,
            up = self.up,
            down = self.down,
            same = self.both - self.up - self.down,
        )
    }

    /// The rows as Arrow: `person_id, listed (both | only <a> | only <b>), rank_<a>, rank_<b>,
    /// moved` (ranks and moves null where a rule does not list the person).
    pub fn to_record_batch(&self) -> RecordBatch {
        let (ra, rb) = if self.a == self.b {
            ("rank_a".to_string(), "rank_b".to_string())
        } else {
            (format!("rank_{}", self.a), format!("rank_{}", self.b))
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("person_id", DataType::Utf8, false),
            Field::new("listed", DataType::Utf8, false),
            Field::new(ra, DataType::UInt32, true),
            Field::new(rb, DataType::UInt32, true),
            Field::new("moved", DataType::Int64, true),
        ]));
        let (only_a, only_b) = (format!("only {}", self.a), format!("only {}", self.b));
        let listed = self.rows.iter().map(|r| match (r.rank_a, r.rank_b) {
            (Some(_), Some(_)) => "both",
            (Some(_), None) => only_a.as_str(),
            _ => only_b.as_str(),
        });
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(self.rows.iter().map(|r| r.person_id.as_str()))),
            Arc::new(StringArray::from_iter_values(listed)),
            Arc::new(UInt32Array::from_iter(self.rows.iter().map(|r| r.rank_a))),
            Arc::new(UInt32Array::from_iter(self.rows.iter().map(|r| r.rank_b))),
            Arc::new(Int64Array::from_iter(self.rows.iter().map(Listed::moved))),
        ];
        RecordBatch::try_new(schema, columns).expect("columns match the schema")
    }
}
