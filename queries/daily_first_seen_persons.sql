-- Question: how many persons checked in for the first time in a period (new users of QR
--           check-in), and how many checked in at all?
-- Parameters: :from, :to  the period (RFC 3339 with offset; :to exclusive)
-- Example:    truyvet sql --store STORE -f queries/daily_first_seen_persons.sql \
--                 --param from=2021-08-10T00:00:00+07:00 --param to=2021-08-11T00:00:00+07:00
-- Notes:      "first" is within the store's retention: after a purge, persons last seen before
--             the oldest kept day count as new again.
SELECT count(*) FILTER (WHERE first_check_in >= CAST(:from AS TIMESTAMP)) AS first_seen,
       count(*) FILTER (WHERE last_check_in >= CAST(:from AS TIMESTAMP)) AS persons
FROM (
    SELECT person_id, min(check_in) AS first_check_in, max(check_in) AS last_check_in
    FROM checkins
    WHERE check_in < CAST(:to AS TIMESTAMP)
    GROUP BY person_id
);
