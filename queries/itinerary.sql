-- Question: where was one person, and when? (the itinerary a case interview starts from)
-- Parameters: :person  the person id (e.g. a phone number: 0912345678)
-- Example:    truyvet sql --store STORE -f queries/itinerary.sql --param person=0912345678
-- Notes:      stay_minutes is NULL when no check-out was recorded. Ids are substituted as text
--             literals, so leading zeros are kept.
SELECT c.check_in,
       c.check_out,
       (CAST(c.check_out AS BIGINT) - CAST(c.check_in AS BIGINT)) / 60 AS stay_minutes,
       c.venue_id,
       v.name,
       v.category,
       v.province,
       v.district
FROM checkins c
LEFT JOIN venues v ON v.venue_id = c.venue_id
WHERE c.person_id = :person
ORDER BY c.check_in, c.venue_id;
