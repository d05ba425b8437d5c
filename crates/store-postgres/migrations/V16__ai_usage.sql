-- What the language model cost: each AI call's prompt and completion tokens and their price,
-- on the events and in the daily rollup.

ALTER TABLE analytics_events
    ADD COLUMN prompt_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN completion_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN llm_cost_usd double precision NOT NULL DEFAULT 0;
ALTER TABLE analytics_daily
    ADD COLUMN prompt_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN completion_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN llm_cost_usd double precision NOT NULL DEFAULT 0;
