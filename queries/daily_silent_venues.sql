-- Question: which registered venues have a QR code nobody scanned in a period ("QR posted,
--           nobody scans"), and which not in the days before either?
-- Parameters: :from, :to      the period (RFC 3339 with offset; :to exclusive)
--             :baseline_from  start of the days before it (2021-08-03T00:00:00+07:00)
-- Example:    truyvet sql --store STORE -f queries/daily_silent_venues.sql \
--                 --param from=2021-08-10T00:00:00+07:00 --param to=2021-08-11T00:00:00+07:00 \
--                 --param baseline_from=2021-08-03T00:00:00+07:00
-- Notes:      needs the venues register (`truyvet ingest --venues`); without it the answer is
--             empty.
WITH seen AS (
    SELECT venue_id, bool_or(check_in >= CAST(:from AS TIMESTAMP)) AS in_period
    FROM checkins
    WHERE check_in >= CAST(:baseline_from AS TIMESTAMP) AND check_in < CAST(:to AS TIMESTAMP)
    GROUP BY venue_id
)
SELECT COALESCE(v.district, '(unknown)') AS district,
       v.venue_id,
       v.name,
       COALESCE(v.category, '(unknown)') AS category,
       s.venue_id IS NULL AS silent_before_too
FROM venues v
LEFT JOIN seen s ON s.venue_id = v.venue_id
WHERE s.in_period IS NULL OR NOT s.in_period
ORDER BY district, v.venue_id;
