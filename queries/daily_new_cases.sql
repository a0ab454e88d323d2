-- Question: which cases were confirmed in a period (the daily report's new F0s)?
-- Parameters: :from, :to  the period (RFC 3339 with offset; :to exclusive)
-- Example:    truyvet sql --store STORE -f queries/daily_new_cases.sql \
--                 --param from=2021-08-10T00:00:00+07:00 --param to=2021-08-11T00:00:00+07:00
-- Notes:      each case's F1 list is `SELECT * FROM f1_contacts('<person_id>')` inside its
--             window (window_from, window_to); `truyvet report daily` counts them.
SELECT case_id, person_id, confirmed_at, window_from, window_to
FROM cases
WHERE confirmed_at >= CAST(:from AS TIMESTAMP) AND confirmed_at < CAST(:to AS TIMESTAMP)
ORDER BY confirmed_at, case_id;
