"""The domain: plain functions over a SQLAlchemy Session. No Flask, no HTTP; services flush, never commit."""
