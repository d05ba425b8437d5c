-- The HNSW graphs now hold passage vectors at half precision (`halfvec`): half the pages per
-- search step, and dimensions up to 4,000 instead of 2,000. The full-precision graphs, one per
-- dimension and named `passages_hnsw_<dim>`, are dropped here; the store builds their
-- replacements (`passages_hnsw_half_<dim>`) right after migrating, still under the migration
-- lock, so a large database takes minutes to start once.
DO $$
DECLARE
    old record;
BEGIN
    FOR old IN
        SELECT indexname FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename = 'passages'
          AND indexname ~ '^passages_hnsw_[0-9]+$'
    LOOP
        EXECUTE format('DROP INDEX %I', old.indexname);
    END LOOP;
END
$$;
