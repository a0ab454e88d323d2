-- Question: which pairs of people are repeatedly at one venue at the same time?
-- Parameters: :venue      the venue id
--             :min_times  least number of overlapping stays for a pair to be listed (e.g. 3)
-- Example:    truyvet sql --store STORE -f queries/co_visitors.sql \
--                 --param venue=QR-DNG-HC-001692 --param min_times=3
-- Notes:      two stays overlap when each starts before the other ends; a stay without
--             check-out is taken as 1 hour (tracing's default dwell). Each overlapping pair of
--             stays counts once. The venue filter prunes the store to that venue's pages.
WITH stays AS (
    SELECT person_id,
           check_in,
           COALESCE(check_out, check_in + INTERVAL '1 hour') AS leave
    FROM checkins
    WHERE venue_id = :venue
)
SELECT a.person_id AS person_a,
       b.person_id AS person_b,
       count(*) AS times_together,
       sum(CAST(least(a.leave, b.leave) AS BIGINT) - CAST(greatest(a.check_in, b.check_in) AS BIGINT)) / 60 AS minutes_together,
       min(greatest(a.check_in, b.check_in)) AS first_together,
       max(greatest(a.check_in, b.check_in)) AS last_together
FROM stays a
JOIN stays b
  ON a.person_id < b.person_id AND a.check_in < b.leave AND b.check_in < a.leave
GROUP BY a.person_id, b.person_id
HAVING count(*) >= CAST(:min_times AS BIGINT)
ORDER BY times_together DESC, person_a, person_b;
