-- Question: how often is the check-out missing, per venue category?
-- Parameters: none
-- Example:    truyvet sql --store STORE -f queries/missing_checkout_by_category.sql
-- Notes:      a missing check-out makes tracing assume a stay of `dwell` (1 h by default), so a
--             high rate means exposure estimates at those venues lean on that assumption.
--             Venues absent from the venues file count under '(unknown)'.
SELECT COALESCE(v.category, '(unknown)') AS category,
       count(*) AS checkins,
       count(*) - count(c.check_out) AS missing_check_out,
       round(100.0 * (count(*) - count(c.check_out)) / count(*), 1) AS missing_pct
FROM checkins c
LEFT JOIN venues v ON v.venue_id = c.venue_id
GROUP BY COALESCE(v.category, '(unknown)')
ORDER BY missing_pct DESC, category;
