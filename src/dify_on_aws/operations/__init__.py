"""Day-2 operations: database password rotation with redeploys, working-hours schedules."""
