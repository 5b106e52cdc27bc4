"""The background job queue (procrastinate on PostgreSQL): task registry and periodic jobs."""
