-- Question: what does the F1 list look like when computed with nothing but SQL over `checkins`?
--           (the engine's exact semantics spelled out as joins and window functions, to audit
--           `f1_contacts()` or to run the same rule on another SQL engine, e.g. DuckDB or Ballista)
-- Parameters: :f0            the confirmed case's person id
--             :from, :to     the infectious window [from, to), e.g. 2021-08-01T00:00:00Z
--             :linger_s      seconds the F0's presence lingers after it leaves (engine default 0)
--             :dwell_s       assumed stay when check_out is missing (engine default 3600)
--             :max_visit_s   cap on any stay (engine default 43200)
--             :min_overlap_s least exposure to count as F1 (engine default 0; 1 s always)
-- Example:    truyvet sql --store STORE -f queries/f1_in_plain_sql.sql --param f0=0912345678 \
--               --param from=2021-08-01T00:00:00Z --param to=2021-08-15T00:00:00Z \
--               --param linger_s=0 --param dwell_s=3600 --param max_visit_s=43200 --param min_overlap_s=0
-- Notes:      same columns, rows and order as f1_contacts(:f0, :from, :to, ...) under the overlap
--             rule, imputed_seconds included (tested). Unions
--             of intervals are "gaps and islands": an interval starts a new island unless an
--             earlier one (by start) reaches it; touching intervals merge, as in the engine.
--             It scans all of `checkins`: the engine's indexes answer the same in milliseconds.
WITH params AS (
  SELECT CAST(date_part('epoch', CAST(:from AS TIMESTAMP)) AS BIGINT) AS w_from,
         CAST(date_part('epoch', CAST(:to AS TIMESTAMP)) AS BIGINT) AS w_to,
         CAST(:linger_s AS BIGINT) AS linger,
         CAST(:dwell_s AS BIGINT) AS dwell,
         CAST(:max_visit_s AS BIGINT) AS max_visit,
         GREATEST(CAST(:min_overlap_s AS BIGINT), 1) AS min_overlap
),
visits AS (
  SELECT person_id, venue_id,
         CAST(date_part('epoch', check_in) AS BIGINT) AS a,
         CAST(date_part('epoch', check_out) AS BIGINT) AS b_out
  FROM checkins
),
-- 1. stays [a, b): check-out, or a + dwell when missing, capped at a + max_visit; m: the end is
--    measured (a check-out within max_visit), not imputed
stays AS (
  SELECT person_id, venue_id, a, LEAST(COALESCE(b_out, a + p.dwell), a + p.max_visit) AS b,
         COALESCE(b_out <= a + p.max_visit, false) AS m
  FROM visits CROSS JOIN params p
),
-- 2. the F0's stays clipped to the window and extended by linger, then U0(v) = their union;
--    kind 'm' repeats it with the measured stays only (for imputed_seconds)
f0_stays AS (
  SELECT s.venue_id, s.m, GREATEST(s.a, p.w_from) AS s, LEAST(s.b, p.w_to) + p.linger AS e
  FROM stays s CROSS JOIN params p
  WHERE s.person_id = :f0 AND GREATEST(s.a, p.w_from) < LEAST(s.b, p.w_to)
),
f0_kinds AS (
  SELECT 'all' AS kind, venue_id, s, e FROM f0_stays
  UNION ALL SELECT 'm' AS kind, venue_id, s, e FROM f0_stays WHERE m
),
f0_reach AS (
  SELECT kind, venue_id, s, e,
         MAX(e) OVER (PARTITION BY kind, venue_id ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
  FROM f0_kinds
),
f0_islands AS (
  SELECT kind, venue_id, s, e,
         SUM(CASE WHEN reach >= s THEN 0 ELSE 1 END) OVER (PARTITION BY kind, venue_id ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS island
  FROM f0_reach
),
u0 AS (SELECT kind, venue_id, MIN(s) AS s, MAX(e) AS e FROM f0_islands GROUP BY kind, venue_id, island),
-- 3. other persons' stays intersected with U0(v), then unioned per person and venue; kind 'm':
--    measured stays with the measured U0
-- (U0 first: the small side, which DataFusion's hash join builds on)
pieces AS (
  SELECT u.kind, st.person_id, st.venue_id, GREATEST(st.a, u.s) AS s, LEAST(st.b, u.e) AS e
  FROM u0 u JOIN stays st ON st.venue_id = u.venue_id AND st.a < u.e AND st.b > u.s
  WHERE st.person_id <> :f0 AND (u.kind = 'all' OR st.m)
),
piece_reach AS (
  SELECT kind, person_id, venue_id, s, e,
         MAX(e) OVER (PARTITION BY kind, person_id, venue_id ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
  FROM pieces
),
piece_islands AS (
  SELECT kind, person_id, venue_id, s, e,
         SUM(CASE WHEN reach >= s THEN 0 ELSE 1 END) OVER (PARTITION BY kind, person_id, venue_id ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS island
  FROM piece_reach
),
episodes AS (
  SELECT kind, person_id, venue_id, MIN(s) AS s, MAX(e) AS e FROM piece_islands GROUP BY kind, person_id, venue_id, island
),
-- 4. per person totals (imputed: exposure not covered by measured pieces); 5. the F1 list, ranked
measured AS (
  SELECT person_id, SUM(e - s) AS seconds FROM episodes WHERE kind = 'm' GROUP BY person_id
),
per_person AS (
  SELECT person_id, SUM(e - s) AS exposure_seconds, COUNT(*) AS episodes, COUNT(DISTINCT venue_id) AS venues,
         MIN(s) AS first_contact, MAX(e) AS last_contact
  FROM episodes WHERE kind = 'all' GROUP BY person_id
)
SELECT CAST(ROW_NUMBER() OVER (ORDER BY exposure_seconds DESC, episodes DESC, pp.person_id) AS INT) AS rank,
       pp.person_id, exposure_seconds, exposure_seconds - COALESCE(m.seconds, 0) AS imputed_seconds, episodes, venues,
       to_timestamp(first_contact) AS first_contact, to_timestamp(last_contact) AS last_contact
FROM per_person pp LEFT JOIN measured m ON m.person_id = pp.person_id CROSS JOIN params p
WHERE exposure_seconds >= p.min_overlap
ORDER BY rank;
