//! Results handed to other Arrow users without a copy, through the Arrow C stream interface
//! (`ArrowArrayStream` of the C Data Interface): Python (pyarrow, polars; the `truyvet` Python
//! package is built on this), C and C++ (Arrow, nanoarrow), R, Go, DuckDB.
//!
//! The consumer gets the engine's own buffers; they are freed when it calls the stream's and
//! arrays' `release`.
//!
//! ```
//! use arrow::ffi_stream::ArrowArrayStreamReader;
//! # use truyvet::{Ingest, Store, TraceRequest};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let scans = dir.path().join("scans.csv");
//! # std::fs::write(&scans, "person_id,venue_id,check_in,check_out\n\
//! #     F0,M,2021-08-01T08:00:00Z,2021-08-01T09:00:00Z\nA,M,2021-08-01T08:30:00Z,\n")?;
//! # Ingest::new(dir.path().join("store")).run(&[scans])?;
//! let store = Store::open(dir.path().join("store"))?;
//! let result = store.trace(&TraceRequest::new("F0"))?;
//! // What a C caller receives as `struct ArrowArrayStream`; read back here to show it.
//! let stream = truyvet::ffi::trace_stream(&result);
//! let batches: Vec<_> = ArrowArrayStreamReader::try_new(stream)?.collect::<Result<_, _>>()?;
//! assert_eq!(batches[0].num_rows(), 1);
//! # Ok(()) }
//! ```

use arrow::datatypes::SchemaRef;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow::record_batch::{RecordBatch, RecordBatchIterator};

use crate::trace::TraceResult;

/// A stream of `batches` (all of `schema`), moved into an `ArrowArrayStream`.
pub fn stream(schema: SchemaRef, batches: Vec<RecordBatch>) -> FFI_ArrowArrayStream {
    FFI_ArrowArrayStream::new(Box::new(RecordBatchIterator::new(batches.into_iter().map(Ok), schema)))
}

/// A trace's ranked F1 list ([`TraceResult::to_record_batch`]) as an `ArrowArrayStream`.
pub fn trace_stream(result: &TraceResult) -> FFI_ArrowArrayStream {
    let batch = result.to_record_batch();
    stream(batch.schema(), vec![batch])
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use arrow::ffi_stream::ArrowArrayStreamReader;
    use arrow::record_batch::RecordBatchReader;

    use super::*;

    #[test]
    fn a_stream_hands_over_the_same_buffers() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("seconds", DataType::Int64, true),
        ]));
        let seconds = Int64Array::from(vec![Some(1), None, Some(3)]);
        let values_at = seconds.values().as_ptr();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec!["a", "b", "c"])), Arc::new(seconds)],
        )
        .unwrap();
        let empty = RecordBatch::new_empty(schema.clone());
        let reader = ArrowArrayStreamReader::try_new(stream(schema.clone(), vec![batch.clone(), empty])).unwrap();
        assert_eq!(reader.schema(), schema);
        let got: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], batch);
        assert_eq!(got[1].num_rows(), 0);
        // Not a copy: the consumer reads the producer's allocation.
        let imported = got[0].column(1).as_primitive::<Int64Type>();
        assert_eq!(imported.values().as_ptr(), values_at);
        assert_eq!(imported.null_count(), 1);
    }
}
