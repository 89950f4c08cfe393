-- At most one active signing key, enforced by the database: two instances starting together on
-- an empty database cannot both make theirs the signing key (store::insert_first_key).
-- A database that a race left with two active keys keeps the most recently activated one
-- active; the other stays published (in metadata, not signing).
UPDATE signing_keys SET state = 'published'
WHERE state = 'active' AND kid <> (
    SELECT kid FROM signing_keys WHERE state = 'active'
    ORDER BY COALESCE(activated_at, 0) DESC, kid DESC LIMIT 1
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';
