-- A task made from a delivered result ("Edit with Kling" on the bot's own video) remembers it.
ALTER TABLE tasks ADD COLUMN edited_from INTEGER REFERENCES tasks (id);
