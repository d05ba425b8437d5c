-- What the language model cost: each AI call's prompt and completion tokens and their price,
-- on the events and in the daily rollup.

ALTER TABLE analytics_events ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_events ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_events ADD COLUMN llm_cost_usd REAL NOT NULL DEFAULT 0;
ALTER TABLE analytics_daily ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_daily ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_daily ADD COLUMN llm_cost_usd REAL NOT NULL DEFAULT 0;
