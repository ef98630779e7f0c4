"""The PostGIS place registry: venues, categories, nearby/box/text search, duplicate detection."""
