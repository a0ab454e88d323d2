//! How a plan over a truyvet store crosses to a Ballista scheduler.
//!
//! A client sends the scheduler its *logical* plan. The store's tables are our own table
//! providers, which DataFusion's codec cannot write, so this codec writes each as what it
//! needs to be rebuilt elsewhere:
//! - a store table (`checkins`, `venues`, `cases`): the store's absolute directory, the manifest
//!   version the client planned against and the table's name. The scheduler reads that
//!   manifest (never a newer one) and plans the same Parquet files, pruned the same way; the
//!   executors then read those files, so the store must be at the same path on every machine
//!   of the cluster (a shared or replicated file system).
//! - `audit`: the store's directory.
//! - `f1_contacts`/`exposures`: the store, manifest version and trace request; the scheduler
//!   plans the trace over the executors ([`super::trace`]).
//! - another table function's answer (`hotspots`, `clusters`): its Arrow batch, computed while
//!   the client planned (as in a local session). DataFusion's own
//!   table functions (`generate_series`, `range`) are computed on the client too, up to
//!   [`MAX_SHIPPED_ROWS`] rows.
//!
//! Anything else goes to Ballista's own codec. A buffer of ours starts with [`MAGIC`].

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::collect;
use datafusion::prelude::SessionContext;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use serde::{Deserialize, Serialize};

use super::trace::{F1Table, WireRequest};
use crate::sql::functions::ResultTable;
use crate::sql::tables::{self, AuditTable, ParquetTable};
use crate::store::{layout, manifest::Manifest};

/// The first bytes of a table written by [`TableCodec`].
pub const MAGIC: &[u8; 4] = b"TVT1";

#[derive(Serialize, Deserialize)]
enum Table {
    Store {
        dir: PathBuf,
        version: u64,
        table: String,
    },
    Audit {
        dir: PathBuf,
    },
    /// `f1_contacts`/`exposures`, traced by the cluster ([`super::trace`]).
    Trace {
        dir: PathBuf,
        version: u64,
        request: Box<WireRequest>,
        details: bool,
    },
    /// Followed by the batch as an Arrow IPC stream.
    Result,
}

/// The logical codec of every truyvet client and scheduler (see the module docs).
#[derive(Debug, Default)]
pub struct TableCodec {
    ballista: BallistaLogicalExtensionCodec,
}

fn internal(what: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("truyvet cluster codec: {what}: {e}"))
}

fn write_head(buf: &mut Vec<u8>, table: &Table) -> DfResult<()> {
    buf.extend_from_slice(MAGIC);
    let head = serde_json::to_vec(table).map_err(|e| internal("writing a table", e))?;
    buf.extend_from_slice(&(head.len() as u32).to_le_bytes());
    buf.extend_from_slice(&head);
    Ok(())
}

/// The table written at the start of `buf`, and the bytes after it; `None` if `buf` is not ours.
fn read_head(buf: &[u8]) -> DfResult<Option<(Table, &[u8])>> {
    let Some(rest) = buf.strip_prefix(MAGIC.as_slice()) else { return Ok(None) };
    let short = || internal("reading a table", "truncated");
    let len = u32::from_le_bytes(rest.get(..4).ok_or_else(short)?.try_into().expect("4 bytes")) as usize;
    let head = rest.get(4..4 + len).ok_or_else(short)?;
    let table = serde_json::from_slice(head).map_err(|e| internal("reading a table", e))?;
    Ok(Some((table, &rest[4 + len..])))
}

/// Most rows of a table function's answer computed on the client to travel in a plan.
pub const MAX_SHIPPED_ROWS: usize = 1_000_000;

/// All rows of `provider`, computed on a thread of its own (the caller may be on any runtime).
fn materialize(table_ref: &TableReference, provider: Arc<dyn TableProvider>) -> DfResult<RecordBatch> {
    let run = move || -> DfResult<RecordBatch> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async {
            let ctx = SessionContext::new();
            let plan = provider.scan(&ctx.state(), None, &[], Some(MAX_SHIPPED_ROWS + 1)).await?;
            let schema = plan.schema();
            let batches = collect(plan, ctx.task_ctx()).await?;
            Ok(concat_batches(&schema, &batches)?)
        })
    };
    let batch =
        std::thread::scope(|s| s.spawn(run).join()).map_err(|_| internal("computing a table", "panicked"))??;
    if batch.num_rows() > MAX_SHIPPED_ROWS {
        return Err(DataFusionError::Plan(format!(
            "{table_ref}: more than {MAX_SHIPPED_ROWS} rows to compute before the statement can go to the cluster"
        )));
    }
    Ok(batch)
}

impl LogicalExtensionCodec for TableCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> DfResult<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        let Some((table, rest)) = read_head(buf)? else {
            return self.ballista.try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        let external = |e: crate::Error| DataFusionError::External(Box::new(e));
        match table {
            Table::Store { dir, version, table } => {
                // The manifest the client planned against: a commit since then is not seen.
                let manifest = Manifest::read(&layout::resolve(&dir, &layout::manifest(version))).map_err(external)?;
                tables::store_table(&dir, &manifest, &table).map_err(external)
            }
            Table::Audit { dir } => Ok(Arc::new(AuditTable { dir })),
            Table::Trace { dir, version, request, details } => {
                Ok(Arc::new(F1Table::decoded(dir, version, *request, details, schema)))
            }
            Table::Result => {
                let mut reader = StreamReader::try_new(rest, None).map_err(|e| internal("reading a result", e))?;
                let batch = reader
                    .next()
                    .ok_or_else(|| internal("reading a result", "no batch"))?
                    .map_err(|e| internal("reading a result", e))?;
                Ok(Arc::new(ResultTable { batch }))
            }
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        if let Some(t) = node.downcast_ref::<ParquetTable>() {
            let dir = std::path::absolute(&t.dir).map_err(|e| internal("the store's path", e))?;
            write_head(buf, &Table::Store { dir, version: t.version, table: t.name.clone() })
        } else if let Some(t) = node.downcast_ref::<F1Table>() {
            let (dir, version, request, details) = (t.dir.clone(), t.version, Box::new(t.request.clone()), t.details);
            write_head(buf, &Table::Trace { dir, version, request, details })
        } else if let Some(t) = node.downcast_ref::<AuditTable>() {
            let dir = std::path::absolute(&t.dir).map_err(|e| internal("the store's path", e))?;
            write_head(buf, &Table::Audit { dir })
        } else if let Some(t) = node.downcast_ref::<ResultTable>() {
            write_head(buf, &Table::Result)?;
            let mut writer =
                StreamWriter::try_new(&mut *buf, &t.batch.schema()).map_err(|e| internal("writing a result", e))?;
            writer.write(&t.batch).map_err(|e| internal("writing a result", e))?;
            writer.finish().map_err(|e| internal("writing a result", e))
        } else {
            match self.ballista.try_encode_table_provider(table_ref, node.clone(), buf) {
                // A provider nobody can write (a built-in table function such as
                // `generate_series`): its rows are computed here and shipped as an answer.
                Err(DataFusionError::NotImplemented(_)) => {
                    buf.clear();
                    let batch = materialize(table_ref, node)?;
                    self.try_encode_table_provider(table_ref, Arc::new(ResultTable { batch }), buf)
                }
                other => other,
            }
        }
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> DfResult<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> DfResult<()> {
        self.ballista.try_encode_file_format(buf, node)
    }
}
