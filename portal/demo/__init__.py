"""Demo organisations and users for development, loaded idempotently by ``flask --app wsgi seed-demo``."""
