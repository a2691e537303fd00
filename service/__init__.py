"""paydown's GitHub App service (webhook, jobs, GitHub client, store, backlog, review, web)."""
