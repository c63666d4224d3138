-- GitHub App installation tokens for commit statuses.
--
-- How a repository's statuses are authorised: 'token' (the sealed token in `token`) or
-- 'github_app' (an installation token of the server's GitHub App, asked for when needed; `token`
-- then holds a sealed empty value). `installation_id` 0: looked up from the repository.
ALTER TABLE repo_forges ADD COLUMN auth TEXT NOT NULL DEFAULT 'token';
ALTER TABLE repo_forges ADD COLUMN installation_id BIGINT NOT NULL DEFAULT 0;
