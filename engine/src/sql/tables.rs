//! The tables of a session, built from the snapshot's manifest (never a directory listing:
//! leftovers of a crashed ingest in the store directory are never read).
//!
//! - `checkins` ([`CHECKINS_SCHEMA`], strings as `Utf8View`): the manifest's Parquet parts.
//!   Each part holds one UTC day sorted by (`venue_id`, `check_in`), with page statistics and a
//!   page index.
//! - `venues` ([`VENUES_SCHEMA`], strings as `Utf8View`): the manifest's venue attributes
//!   file, or an empty table.
//! - `cases` ([`CASES_SCHEMA`], strings as `Utf8View`): the cases register, one row per case
//!   with its infectious window, or an empty table.
//! - `persons(person_id, visits, first_seen, last_seen)`: a view grouping `checkins` by person.
//!
//! # Algorithm (a scan of `checkins`)
//! 1. Part pruning, before any I/O: the pushed-down filters are evaluated against per-part
//!    statistics taken from the manifest (`day`, and `check_in` min/max), with DataFusion's
//!    `PruningPredicate`; parts that cannot match are left out of the plan.
//! 2. The remaining parts become one Parquet `DataSourceExec` (files spread over
//!    `target_partitions` groups, each carrying its manifest statistics). DataFusion's filter
//!    pushdown hands the predicate to the Parquet source, which prunes row groups by their
//!    statistics and pages by the page index (`venue_id` and `check_in`, thanks to the sort),
//!    and, with `pushdown_filters`, filters rows while decoding.
//!
//! # Performance
//! A filter on one day and one venue reads one part's footer and page index and the few pages
//! of that venue: cost grows with the venue's rows that day, not with the store. A scan without
//! filters reads every part once (the projected columns only). `persons` is a full `GROUP BY
//! person_id` over `checkins` each time it is used: O(rows) time and O(persons) memory.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::Session as DfSession;
use datafusion::common::pruning::PrunableStatistics;
use datafusion::common::stats::{ColumnStatistics, Precision, Statistics};
use datafusion::common::{DFSchema, ScalarValue, project_schema};
use datafusion::config::TableParquetOptions;
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::object_store::ObjectMeta;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::model::{CASES_SCHEMA, CHECKINS_SCHEMA, VENUES_SCHEMA, col};
use crate::store::manifest::Manifest;
use crate::store::{Snapshot, audit, layout};

/// SQL of the `persons` view.
pub(crate) const PERSONS_VIEW: &str = "CREATE VIEW persons AS \
     SELECT person_id, count(*) AS visits, min(check_in) AS first_seen, max(check_in) AS last_seen \
     FROM checkins GROUP BY person_id";

/// The store tables a session registers, by name.
pub(crate) const STORE_TABLES: [&str; 3] = ["checkins", "venues", "cases"];

/// Register `checkins`, `venues`, `cases` and `persons` (the view is created by the caller, which runs
/// SQL).
pub(crate) fn register(ctx: &SessionContext, snapshot: &Snapshot) -> Result<()> {
    for name in STORE_TABLES {
        let table = store_table(snapshot.dir(), snapshot.manifest(), name)?;
        ctx.register_table(name, table).map_err(|e| Error::Internal(format!("registering {name}: {e}")))?;
    }
    Ok(())
}

/// The store table `name` (one of [`STORE_TABLES`]) of the manifest `m` of the store in `dir`:
/// what a session registers, and what a cluster's scheduler rebuilds from a plan (the manifest
/// alone says which files it reads).
pub(crate) fn store_table(dir: &Path, m: &Manifest, name: &str) -> Result<Arc<dyn TableProvider>> {
    // The row count of the small tables lets the planner build join hash tables on them, not
    // on checkins.
    let counted = |rel: &String, schema: &SchemaRef| {
        let rows = parquet_rows(&layout::resolve(dir, rel))?;
        let stats = Statistics { num_rows: Precision::Exact(rows), ..Statistics::new_unknown(schema) };
        ParquetFile::open(dir, rel, Some(stats))
    };
    let (schema, files) = match name {
        "checkins" => {
            let parts = m.parts.iter().map(|p| {
                let stats = part_statistics(p.rows, p.day, p.min_check_in, p.max_check_in);
                ParquetFile::open(dir, &p.path, Some(stats))
            });
            (&*CHECKINS_SCHEMA, parts.collect::<Result<Vec<_>>>()?)
        }
        "venues" => (&*VENUES_SCHEMA, m.venue_attrs.iter().map(|r| counted(r, &VENUES_SCHEMA)).collect::<Result<_>>()?),
        "cases" => (&*CASES_SCHEMA, m.cases.iter().map(|r| counted(r, &CASES_SCHEMA)).collect::<Result<_>>()?),
        other => return Err(Error::Internal(format!("no store table {other:?}"))),
    };
    Ok(Arc::new(ParquetTable {
        dir: dir.to_path_buf(),
        name: name.to_string(),
        version: m.version,
        schema: view_types(schema),
        files,
    }))
}

/// Register `audit`: the store's audit log, read whole at each scan (it is small beside the
/// check-ins, and it grows between commits, so no snapshot holds it). Damaged lines are left
/// out here; `truyvet audit` names them.
pub(crate) fn register_audit(ctx: &SessionContext, dir: &Path) -> Result<()> {
    ctx.register_table("audit", Arc::new(AuditTable { dir: dir.to_path_buf() }))
        .map_err(|e| Error::Internal(format!("registering the audit table: {e}")))?;
    Ok(())
}

#[derive(Debug)]
pub(crate) struct AuditTable {
    pub(crate) dir: std::path::PathBuf,
}

#[async_trait::async_trait]
impl TableProvider for AuditTable {
    fn schema(&self) -> SchemaRef {
        audit::AUDIT_SCHEMA.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let external = |e: Error| datafusion::error::DataFusionError::External(Box::new(e));
        let (records, bad) = audit::read(&self.dir).map_err(external)?;
        if !bad.is_empty() {
            tracing::warn!(lines = bad.len(), "the audit log has damaged lines; `truyvet audit` names them");
        }
        let batch = audit::to_batch(&records).map_err(external)?;
        let exec = MemorySourceConfig::try_new_exec(&[vec![batch]], audit::AUDIT_SCHEMA.clone(), projection.cloned())?;
        Ok(exec)
    }
}

/// `schema` with its `Utf8` columns as `Utf8View`: the Parquet reader then hands out views into
/// the dictionary pages instead of copying every value (at 10 M rows, a quarter of the time of
/// `GROUP BY venue_id` went to that copy).
fn view_types(schema: &SchemaRef) -> SchemaRef {
    let fields = schema.fields().iter().map(|f| match f.data_type() {
        DataType::Utf8 => Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View)),
        _ => f.clone(),
    });
    Arc::new(Schema::new(fields.collect::<Vec<_>>()))
}

/// Row count of a Parquet file, from its footer.
fn parquet_rows(path: &Path) -> Result<usize> {
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let reader = parquet::file::reader::SerializedFileReader::new(file)
        .map_err(|e| Error::store(path, format!("unreadable Parquet footer: {e}")))?;
    Ok(usize::try_from(parquet::file::reader::FileReader::metadata(&reader).file_metadata().num_rows()).unwrap_or(0))
}

/// Exact statistics of one part, from its manifest entry (no I/O).
fn part_statistics(rows: u64, day: i64, min_check_in: i64, max_check_in: i64) -> Statistics {
    let exact = |min: ScalarValue, max: ScalarValue| ColumnStatistics {
        null_count: Precision::Exact(0),
        min_value: Precision::Exact(min),
        max_value: Precision::Exact(max),
        ..ColumnStatistics::new_unknown()
    };
    let not_null = ColumnStatistics { null_count: Precision::Exact(0), ..ColumnStatistics::new_unknown() };
    let ts = |s: i64| ScalarValue::TimestampSecond(Some(s), Some("UTC".into()));
    let day = ScalarValue::Date32(i32::try_from(day).ok());
    let mut columns = Vec::new();
    for field in CHECKINS_SCHEMA.fields() {
        columns.push(match field.name().as_str() {
            col::CHECK_IN => exact(ts(min_check_in), ts(max_check_in)),
            col::DAY => exact(day.clone(), day.clone()),
            col::CHECK_OUT => ColumnStatistics::new_unknown(),
            _ => not_null.clone(),
        });
    }
    Statistics {
        num_rows: Precision::Exact(rows as usize),
        total_byte_size: Precision::Absent,
        column_statistics: columns,
    }
}

/// One Parquet file of the snapshot, located once when the session opens.
#[derive(Debug, Clone)]
struct ParquetFile {
    meta: ObjectMeta,
    stats: Option<Arc<Statistics>>,
}

impl ParquetFile {
    fn open(dir: &Path, rel: &str, stats: Option<Statistics>) -> Result<ParquetFile> {
        let path = std::path::absolute(layout::resolve(dir, rel)).map_err(Error::io(dir))?;
        let md = std::fs::metadata(&path).map_err(Error::io(&path))?;
        let location = ObjectPath::from_absolute_path(&path)
            .map_err(|e| Error::store(&path, format!("not usable as a DataFusion path: {e}")))?;
        let last_modified = md.modified().map_err(Error::io(&path))?.into();
        let meta = ObjectMeta { location, last_modified, size: md.len(), e_tag: None, version: None };
        Ok(ParquetFile { meta, stats: stats.map(Arc::new) })
    }

    fn partitioned(&self) -> PartitionedFile {
        let file = PartitionedFile::new_from_meta(self.meta.clone());
        match &self.stats {
            Some(s) => file.with_statistics(s.clone()),
            None => file,
        }
    }
}

/// A read-only table over a fixed list of Parquet files with one schema: the store table
/// `name` of manifest `version` of the store in `dir`.
#[derive(Debug)]
#[cfg_attr(not(feature = "cluster"), allow(dead_code))] // where it came from: a cluster's codec
pub(crate) struct ParquetTable {
    pub(crate) dir: std::path::PathBuf,
    pub(crate) name: String,
    pub(crate) version: u64,
    schema: SchemaRef,
    files: Vec<ParquetFile>,
}

impl ParquetTable {
    /// Indexes of the files that may hold rows matching all `filters` (step 1 of the
    /// algorithm). Files without statistics are always kept; a filter that cannot be turned
    /// into a pruning predicate prunes nothing.
    fn prune(&self, state: &dyn DfSession, filters: &[Expr]) -> Vec<usize> {
        let all: Vec<usize> = (0..self.files.len()).collect();
        let Some(stats) = self.files.iter().map(|f| f.stats.clone()).collect::<Option<Vec<_>>>() else { return all };
        let Some(predicate) = conjunction(filters.iter().cloned()) else { return all };
        let keep = DFSchema::try_from(self.schema.clone())
            .and_then(|schema| state.create_physical_expr(predicate, &schema))
            .and_then(|expr| PruningPredicateBuilder::new().with_file_schema(self.schema.clone()).try_build(expr))
            .and_then(|p| p.prune(&PrunableStatistics::new(stats, self.schema.clone())));
        match keep {
            Ok(keep) => all.into_iter().filter(|&i| keep[i]).collect(),
            Err(e) => {
                tracing::debug!(error = %e, "no part pruning for this filter");
                all
            }
        }
    }

    async fn plan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let kept = self.prune(state, filters);
        tracing::debug!(parts = self.files.len(), kept = kept.len(), "part pruning");
        if kept.is_empty() {
            return Ok(Arc::new(EmptyExec::new(project_schema(&self.schema, projection)?)));
        }
        let files: Vec<PartitionedFile> = kept.iter().map(|&i| self.files[i].partitioned()).collect();
        // Totals over the planned files, for the optimizer (join sides, `count(*)`).
        let stats: Option<Vec<Arc<Statistics>>> = kept.iter().map(|&i| self.files[i].stats.clone()).collect();
        let total = match stats {
            Some(s) => Statistics::try_merge_iter(s.iter().map(Arc::as_ref), &self.schema)?,
            None => Statistics::new_unknown(&self.schema),
        };
        let groups = FileGroup::new(files).split_files(state.config().target_partitions().max(1));
        // The session's Parquet settings (pruning, page index, pushdown_filters) apply here.
        let options = TableParquetOptions {
            global: state.config_options().execution.parquet.clone(),
            ..state.table_options().parquet.clone()
        };
        let format = ParquetFormat::default().with_options(options);
        let source = format.file_source(self.schema.clone().into());
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), source)
            .with_file_groups(groups)
            .with_statistics(total)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}

#[async_trait::async_trait]
impl TableProvider for ParquetTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Inexact: filters prune parts, row groups and pages; DataFusion still applies them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.plan(state, projection, filters, limit).await
    }
}
