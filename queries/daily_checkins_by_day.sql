-- Question: how many check-ins on each local day of a period and the days before it?
-- Parameters: :baseline_from  first day's start (RFC 3339 with offset: 2021-08-03T00:00:00+07:00)
--             :to             last day's end, exclusive (2021-08-11T00:00:00+07:00)
-- Example:    truyvet sql --store STORE -f queries/daily_checkins_by_day.sql \
--                 --param baseline_from=2021-08-03T00:00:00+07:00 --param to=2021-08-11T00:00:00+07:00
-- Notes:      days are cut at local midnight of the offset given (date_bin from :baseline_from);
--             day_start is printed in UTC. Days without check-ins are absent.
SELECT date_bin(INTERVAL '1 day', check_in, CAST(:baseline_from AS TIMESTAMP)) AS day_start,
       count(*) AS checkins
FROM checkins
WHERE check_in >= CAST(:baseline_from AS TIMESTAMP) AND check_in < CAST(:to AS TIMESTAMP)
GROUP BY 1
ORDER BY 1;
