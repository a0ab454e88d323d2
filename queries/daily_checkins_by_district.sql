-- Question: how were QR codes used in each district in a period (the daily report's table)?
-- Parameters: :from           period start, inclusive (RFC 3339 with offset: 2021-08-10T00:00:00+07:00)
--             :to             period end, exclusive (2021-08-11T00:00:00+07:00)
--             :baseline_from  start of the days it is compared with (2021-08-03T00:00:00+07:00)
--             :baseline_days  how many days that is (7)
-- Example:    truyvet sql --store STORE -f queries/daily_checkins_by_district.sql \
--                 --param from=2021-08-10T00:00:00+07:00 --param to=2021-08-11T00:00:00+07:00 \
--                 --param baseline_from=2021-08-03T00:00:00+07:00 --param baseline_days=7
-- Notes:      `truyvet report daily` gives the same numbers (and the register venues nobody
--             scanned, which this query leaves out). Venues absent from the venues file count
--             under '(unknown)'.
SELECT COALESCE(v.district, '(unknown)') AS district,
       count(*) FILTER (WHERE c.check_in >= CAST(:from AS TIMESTAMP)) AS checkins,
       count(*) FILTER (WHERE c.check_in < CAST(:from AS TIMESTAMP))
           / CAST(:baseline_days AS DOUBLE) AS baseline_mean,
       count(*) FILTER (WHERE c.check_in >= CAST(:from AS TIMESTAMP) AND c.check_out IS NULL) AS missing_check_out,
       count(DISTINCT c.venue_id) FILTER (WHERE c.check_in >= CAST(:from AS TIMESTAMP)) AS venues_scanned
FROM checkins c
LEFT JOIN venues v ON v.venue_id = c.venue_id
WHERE c.check_in >= CAST(:baseline_from AS TIMESTAMP) AND c.check_in < CAST(:to AS TIMESTAMP)
GROUP BY COALESCE(v.district, '(unknown)')
ORDER BY checkins DESC, district;
