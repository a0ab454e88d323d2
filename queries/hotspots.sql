-- Question: which venues were visited by two or more of a set of F0s? (candidate hotspots)
-- Parameters: :f0s  the F0 person ids, comma-separated (e.g. 0912345678,0987654321,0901112223)
-- Example:    truyvet sql --store STORE -f queries/hotspots.sql --param f0s=0912345678,0987654321
-- Notes:      "visited by" means a check-in at any time in the store, not necessarily together;
--             add a day or check_in filter to narrow it to an infectious window.
WITH f0 AS (
    SELECT DISTINCT trim(id) AS person_id
    FROM unnest(string_to_array(:f0s, ',')) AS t(id)
)
SELECT c.venue_id,
       v.name,
       v.province,
       count(DISTINCT c.person_id) AS f0_count,
       array_to_string(array_sort(array_agg(DISTINCT c.person_id)), ',') AS f0s,
       min(c.check_in) AS first_visit,
       max(c.check_in) AS last_visit
FROM checkins c
JOIN f0 ON f0.person_id = c.person_id
LEFT JOIN venues v ON v.venue_id = c.venue_id
GROUP BY c.venue_id, v.name, v.province
HAVING count(DISTINCT c.person_id) >= 2
ORDER BY f0_count DESC, c.venue_id;
