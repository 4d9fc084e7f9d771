-- Each source's snapshot token: a random number drawn by every transaction
-- that changes the source's snapshot rows. The snapshot index file of a
-- source (store/snapindex.go), a cache of its (key, hash) pairs, names the
-- token of the state it describes and is used only while it matches: 0 is
-- no state any file describes.
ALTER TABLE sources ADD COLUMN snapshot_token INTEGER NOT NULL DEFAULT 0;
