-- Question: how many people were at one venue, hour by hour, on one day?
-- Parameters: :venue  the venue id (e.g. QR-DNG-HC-001692)
--             :day    the UTC day (YYYY-MM-DD)
-- Example:    truyvet sql --store STORE -f queries/venue_hourly_occupancy.sql \
--                 --param venue=QR-DNG-HC-001692 --param day=2021-08-03
-- Notes:      `present` counts distinct persons whose stay overlaps the hour; `arrivals` counts
--             check-ins within the hour. A stay without check-out is taken as 1 hour (tracing's
--             default dwell). Stays that began the day before and run past midnight are
--             included. The venue and day filters prune the store to that venue's pages.
WITH hours AS (
    SELECT value AS hour
    FROM generate_series(CAST(:day AS TIMESTAMP),
                         CAST(:day AS TIMESTAMP) + INTERVAL '23 hours',
                         INTERVAL '1 hour')
),
stays AS (
    SELECT person_id,
           check_in,
           COALESCE(check_out, check_in + INTERVAL '1 hour') AS leave
    FROM checkins
    WHERE venue_id = :venue
      AND day BETWEEN CAST(:day AS DATE) - INTERVAL '1 day' AND CAST(:day AS DATE)
)
SELECT h.hour,
       count(DISTINCT s.person_id) AS present,
       count(s.person_id) FILTER (WHERE s.check_in >= h.hour) AS arrivals
FROM hours h
LEFT JOIN stays s ON s.check_in < h.hour + INTERVAL '1 hour' AND s.leave > h.hour
GROUP BY h.hour
ORDER BY h.hour;
