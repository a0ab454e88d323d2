-- Question: which venues had the most distinct visitors?
-- Parameters: :limit  how many venues to list (e.g. 20)
-- Example:    truyvet sql --store STORE -f queries/top_venues.sql --param limit=20
-- Notes:      ties are broken by check-ins, then venue id. Parameters (:name) are substituted
--             as text literals, hence the CAST.
SELECT c.venue_id,
       v.name,
       v.category,
       v.province,
       count(DISTINCT c.person_id) AS visitors,
       count(*) AS checkins
FROM checkins c
LEFT JOIN venues v ON v.venue_id = c.venue_id
GROUP BY c.venue_id, v.name, v.category, v.province
ORDER BY visitors DESC, checkins DESC, c.venue_id
LIMIT CAST(:limit AS BIGINT);
