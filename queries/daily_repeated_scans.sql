-- Question: how many check-ins in a period repeat another's person, venue and check-in time
--           (a double scan, or a file loaded twice under another name)?
-- Parameters: :from, :to  the period (RFC 3339 with offset; :to exclusive)
-- Example:    truyvet sql --store STORE -f queries/daily_repeated_scans.sql \
--                 --param from=2021-08-10T00:00:00+07:00 --param to=2021-08-11T00:00:00+07:00
-- Notes:      the rows are stored as given; tracing merges a person's overlapping stays, so a
--             repeat never counts twice in an exposure.
SELECT COALESCE(sum(n - 1), 0) AS repeated_scans
FROM (
    SELECT count(*) AS n
    FROM checkins
    WHERE check_in >= CAST(:from AS TIMESTAMP) AND check_in < CAST(:to AS TIMESTAMP)
    GROUP BY person_id, venue_id, check_in
);
