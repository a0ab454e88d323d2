-- Question: in which provinces were an F0's contacts exposed? (where to send the call centre)
-- Parameters: :f0  the confirmed case's person id
-- Example:    truyvet sql --store STORE -f queries/f1_by_province.sql --param f0=0912345678
-- Notes:      a contact exposed in two provinces counts in both. Default trace parameters.
SELECT COALESCE(v.province, '(unknown)') AS province,
       count(DISTINCT e.person_id) AS f1_contacts,
       sum(e.seconds) AS exposure_seconds
FROM exposures(:f0) e
LEFT JOIN venues v ON v.venue_id = e.venue_id
GROUP BY COALESCE(v.province, '(unknown)')
ORDER BY f1_contacts DESC, exposure_seconds DESC, province;
