-- Passages per project, model and dimension, kept by statement-level triggers (which also see
-- the passages a context's deletion cascades to, and rows COPY brings). A vector search decides
-- between ranking its filtered set exactly and walking the HNSW graph by the size of that set;
-- counting passages for it read every matching heap row (about 40 ms at 100k passages), while
-- this table answers with one row per project.
CREATE TABLE passage_counts (
    project_id uuid    NOT NULL,
    model      text    NOT NULL,
    dim        integer NOT NULL,
    n          bigint  NOT NULL,
    PRIMARY KEY (project_id, model, dim)
);

INSERT INTO passage_counts (project_id, model, dim, n)
SELECT project_id, model, dim, count(*) FROM passages GROUP BY project_id, model, dim;

-- Rows are locked in key order, so concurrent inserts into several projects cannot deadlock.
CREATE FUNCTION passage_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO passage_counts AS c (project_id, model, dim, n)
    SELECT project_id, model, dim, count(*) FROM added
    GROUP BY project_id, model, dim ORDER BY project_id, model, dim
    ON CONFLICT (project_id, model, dim) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION passage_counts_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM passage_counts c
    WHERE (c.project_id, c.model, c.dim) IN (SELECT project_id, model, dim FROM removed)
    ORDER BY c.project_id, c.model, c.dim FOR UPDATE;
    UPDATE passage_counts c SET n = c.n - r.n
    FROM (SELECT project_id, model, dim, count(*) AS n FROM removed
          GROUP BY project_id, model, dim) r
    WHERE c.project_id = r.project_id AND c.model = r.model AND c.dim = r.dim;
    RETURN NULL;
END
$$;

CREATE TRIGGER passages_counted_on_insert AFTER INSERT ON passages
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION passage_counts_add();
CREATE TRIGGER passages_counted_on_delete AFTER DELETE ON passages
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION passage_counts_remove();
