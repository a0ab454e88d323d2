-- Question: who are an F0's F1 contacts, and at which venues (names, provinces) were they exposed?
-- Parameters: :f0  the confirmed case's person id
-- Example:    truyvet sql --store STORE -f queries/f1_venues.sql --param f0=0912345678
-- Notes:      one row per contact and venue, in F1 rank order (the order of `truyvet trace`),
--             then by exposure at the venue. Default trace parameters (whole store, linger 0,
--             dwell 1 h); pass more arguments to f1_contacts/exposures to change them, e.g.
--             f1_contacts(:f0, '2021-08-03T00:00:00+07:00', NULL, 900).
SELECT f.rank,
       f.person_id,
       f.exposure_seconds AS total_seconds,
       e.venue_id,
       v.name AS venue_name,
       v.province,
       sum(e.seconds) AS seconds_at_venue,
       min(e.start) AS first_contact
FROM f1_contacts(:f0) f
JOIN exposures(:f0) e ON e.rank = f.rank
LEFT JOIN venues v ON v.venue_id = e.venue_id
GROUP BY f.rank, f.person_id, f.exposure_seconds, e.venue_id, v.name, v.province
ORDER BY f.rank, seconds_at_venue DESC, e.venue_id;
