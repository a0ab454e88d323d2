-- Question: how many check-ins, and how many distinct persons, per day in each province?
-- Parameters: :from  first day, inclusive (YYYY-MM-DD, UTC days)
--             :to    last day, inclusive
-- Example:    truyvet sql --store STORE -f queries/checkins_per_day_province.sql \
--                 --param from=2021-08-01 --param to=2021-08-14
-- Notes:      venues absent from the venues file count under '(unknown)'. The day filter prunes
--             whole days of the store. Parameters (:name) are substituted as text literals.
SELECT c.day,
       COALESCE(v.province, '(unknown)') AS province,
       count(*) AS checkins,
       count(DISTINCT c.person_id) AS persons
FROM checkins c
LEFT JOIN venues v ON v.venue_id = c.venue_id
WHERE c.day BETWEEN CAST(:from AS DATE) AND CAST(:to AS DATE)
GROUP BY c.day, COALESCE(v.province, '(unknown)')
ORDER BY c.day, province;
