"""Infrastructure shared by every domain: settings, database, Redis, errors, auth, ids."""
